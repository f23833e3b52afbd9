package batch_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/tasker-go/tasker/engine/internal/batch"
)

// A lone call runs alone; calls that arrive while a batch runs are taken
// together by the next one, up to the bound; every caller gets its own
// result.
func TestCallsQueuedDuringABatchRunTogether(t *testing.T) {
	release := make(chan struct{})
	started := make(chan int, 10)
	var mu sync.Mutex
	var sizes []int
	b := batch.New(3, func(_ context.Context, reqs []int) []batch.Result[string] {
		mu.Lock()
		sizes = append(sizes, len(reqs))
		mu.Unlock()
		started <- len(reqs)
		<-release
		out := make([]batch.Result[string], len(reqs))
		for i, r := range reqs {
			if r < 0 {
				out[i].Err = fmt.Errorf("negative %d", r)
				continue
			}
			out[i].Value = fmt.Sprint(r * 10)
		}
		return out
	})
	ctx := context.Background()
	type got struct {
		v   string
		err error
	}
	results := make([]chan got, 6)
	do := func(i, req int) {
		results[i] = make(chan got, 1)
		go func() {
			v, err := b.Do(ctx, req)
			results[i] <- got{v, err}
		}()
	}
	do(0, 1)
	if n := <-started; n != 1 {
		t.Fatalf("first batch has %d calls, want 1", n)
	}
	// Five more arrive while the first runs: the next batches take 3, then 2.
	for i, req := range []int{2, -3, 4, 5, 6} {
		do(i+1, req)
	}
	waitQueued(t, b, 5)
	release <- struct{}{}
	if n := <-started; n != 3 {
		t.Fatalf("second batch has %d calls, want 3 (the bound)", n)
	}
	release <- struct{}{}
	if n := <-started; n != 2 {
		t.Fatalf("third batch has %d calls, want 2", n)
	}
	release <- struct{}{}
	for i, want := range []string{"10", "20", "", "40", "50", "60"} {
		g := <-results[i]
		if i == 2 {
			if g.err == nil || g.err.Error() != "negative -3" {
				t.Fatalf("call 2: %v, want its own error", g.err)
			}
			continue
		}
		if g.err != nil || g.v != want {
			t.Fatalf("call %d = %q, %v; want %q", i, g.v, g.err, want)
		}
	}
}

// A call whose context ends while it waits in the queue is not run.
func TestCancelledWhileQueuedIsNotRun(t *testing.T) {
	release := make(chan struct{})
	started := make(chan []int, 2)
	b := batch.New(10, func(_ context.Context, reqs []int) []batch.Result[int] {
		started <- reqs
		<-release
		return make([]batch.Result[int], len(reqs))
	})
	first := make(chan error, 1)
	go func() { _, err := b.Do(context.Background(), 1); first <- err }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() { _, err := b.Do(ctx, 2); queued <- err }()
	waitQueued(t, b, 1)
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call returned %v, want context.Canceled", err)
	}
	release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The batcher is idle again: the next call runs alone.
	go func() { <-started; release <- struct{}{} }()
	if _, err := b.Do(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
}

func waitQueued[Q, R any](t *testing.T, b *batch.Batcher[Q, R], n int) {
	t.Helper()
	for b.Queued() < n {
		runtime.Gosched()
	}
}

// A call whose context has ended already is not run, even alone.
func TestEndedContextIsNotRun(t *testing.T) {
	ran := false
	b := batch.New(10, func(_ context.Context, reqs []int) []batch.Result[int] {
		ran = true
		return make([]batch.Result[int], len(reqs))
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Do(ctx, 1); !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("Do = %v, ran %v; want context.Canceled and not run", err, ran)
	}
}
