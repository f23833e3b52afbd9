package dispatch_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/engine/internal/dispatch"
	"github.com/tasker-go/tasker/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func steps(n int) []*store.ClaimedStep {
	out := make([]*store.ClaimedStep, n)
	for i := range out {
		out[i] = &store.ClaimedStep{Step: &store.Step{ID: int64(i + 1)}}
	}
	return out
}

// Claimers racing for room never run more than the limit at once, and
// Close+Wait returns only after every started handler has finished.
func TestNeverMoreThanTheLimit(t *testing.T) {
	const limit = 4
	var running, peak, ran atomic.Int64
	gate := make(chan struct{})
	d := dispatch.New(limit, func(*store.ClaimedStep) func() {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-gate
		running.Add(-1)
		ran.Add(1)
		return nil
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if n := d.Reserve(3); n > 0 {
				d.Settle(n, steps(n))
			}
		})
	}
	wg.Wait()
	if got := d.Running(); got > limit {
		t.Fatalf("%d slots taken, limit %d", got, limit)
	}
	if d.Reserve(1) != 0 {
		t.Fatal("a reservation beyond the limit succeeded")
	}
	close(gate)
	d.Close()
	d.Wait()
	if peak.Load() > limit || ran.Load() != int64(limit) || d.Running() != 0 {
		t.Fatalf("peak %d, ran %d, still running %d", peak.Load(), ran.Load(), d.Running())
	}
	if d.Reserve(1) != 0 {
		t.Fatal("a closed dispatcher gave room")
	}
}

// Settle gives back what a reservation did not use, and signals it.
func TestUnusedSlotsAreReturned(t *testing.T) {
	d := dispatch.New(10, func(*store.ClaimedStep) func() { return nil })
	n := d.Reserve(10)
	d.Settle(n, steps(2))
	d.Close()
	d.Wait()
	if d.Running() != 0 {
		t.Fatalf("%d slots still taken", d.Running())
	}
	select {
	case <-d.Freed():
	default:
		t.Fatal("no freed signal")
	}
}

// HandlerTime counts a running handler's time up to now and a finished
// one's whole run, and stands still while nothing runs.
func TestHandlerTime(t *testing.T) {
	gate, started := make(chan struct{}), make(chan struct{})
	var ran atomic.Int64 // the handler's own measure of its run, ns
	d := dispatch.New(1, func(*store.ClaimedStep) func() {
		t0 := time.Now()
		close(started)
		<-gate
		ran.Store(int64(time.Since(t0)))
		return nil
	})
	if got := d.HandlerTime(); got != 0 {
		t.Fatalf("before any handler: %s", got)
	}
	n := d.Reserve(1)
	d.Settle(n, steps(1))
	<-started
	a := d.HandlerTime()
	b := d.HandlerTime()
	if a <= 0 || b < a {
		t.Fatalf("while running: %s then %s, want positive and growing", a, b)
	}
	close(gate)
	d.Close()
	d.Wait()
	done := d.HandlerTime()
	if done < time.Duration(ran.Load()) {
		t.Fatalf("finished: %s, less than the handler's own %s", done, time.Duration(ran.Load()))
	}
	if again := d.HandlerTime(); again != done {
		t.Fatalf("nothing running, yet %s became %s", done, again)
	}
}

// What start returns runs after the step's slot is free (a worker hands
// its outcome on there: the commit recording it can claim into that
// slot), and before Wait returns.
func TestThenRunsWithTheSlotFree(t *testing.T) {
	var d *dispatch.Dispatcher
	var free, ran atomic.Int64
	free.Store(-1)
	d = dispatch.New(1, func(*store.ClaimedStep) func() {
		return func() { free.Store(int64(d.Free())); ran.Add(1) }
	})
	n := d.Reserve(1)
	d.Settle(n, steps(1))
	d.Close()
	d.Wait()
	if ran.Load() != 1 || free.Load() != 1 {
		t.Fatalf("then ran %d times with %d slots free; want once with the one slot free", ran.Load(), free.Load())
	}
}
