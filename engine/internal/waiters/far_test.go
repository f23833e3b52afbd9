package waiters_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine/internal/waiters"
	"github.com/tasker-go/tasker/store"
)

// farFixture is a Far over a signal the test fires, whose store answers
// from the done map and records what it was asked.
type farFixture struct {
	far     *waiters.Far
	sig     chan struct{}
	mu      sync.Mutex
	done    map[int64]bool
	asked   [][]int64 // DoneAmong's calls
	read    []int64   // Read's calls
	fail    bool
	started int
	stopped int
	stops   chan struct{} // a send per stop
}

func newFar(s *waiters.Set) *farFixture {
	f := &farFixture{sig: make(chan struct{}, 1), done: map[int64]bool{}, stops: make(chan struct{}, 16)}
	f.far = &waiters.Far{Set: s,
		Source: func() (<-chan struct{}, func()) {
			f.mu.Lock()
			f.started++
			f.mu.Unlock()
			return f.sig, func() {
				f.mu.Lock()
				f.stopped++
				f.mu.Unlock()
				f.stops <- struct{}{}
			}
		},
		DoneAmong: func(_ context.Context, ids []int64) ([]int64, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.asked = append(f.asked, slices.Sorted(slices.Values(ids)))
			if f.fail {
				return nil, errors.New("no answer")
			}
			var out []int64
			for _, id := range ids {
				if f.done[id] {
					out = append(out, id)
				}
			}
			return out, nil
		},
		Read: func(_ context.Context, id int64) (*store.TaskOutcome, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.read = append(f.read, id)
			st := store.TaskInProgress
			if f.done[id] {
				st = store.TaskComplete
			}
			return &store.TaskOutcome{ID: id, State: st}, nil
		},
	}
	return f
}

// finish marks tasks done in the fixture's store.
func (f *farFixture) finish(ids ...int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		f.done[id] = true
	}
}

func woken(w *waiters.Waiter) bool {
	select {
	case <-w.C:
		return true
	default:
		return false
	}
}

// A signal wakes the waiters of the waited tasks that are done, after one
// question for all of them, and leaves the others waiting.
func TestFarWakesOnlyTheFinishedTasksWaiters(t *testing.T) {
	var s waiters.Set
	f := newFar(&s)
	release := f.far.Hold()
	a, b1, b2, c := s.Add(1), s.Add(2), s.Add(2), s.Add(3)
	f.finish(2)
	f.sig <- struct{}{}
	<-b1.C
	<-b2.C
	release()
	if woken(a) || woken(c) {
		t.Fatal("a waiter of a task still running was woken")
	}
	if b1.Detail != nil {
		t.Fatal("Far handed over a task it did not read")
	}
	if len(f.asked) != 1 || !slices.Equal(f.asked[0], []int64{1, 2, 3}) || len(f.read) != 0 {
		t.Fatalf("asked %v and read %v; want one question about tasks 1, 2 and 3, no read", f.asked, f.read)
	}
	if f.started != 1 || f.stopped != 1 {
		t.Fatalf("source started %d times and stopped %d, want once each", f.started, f.stopped)
	}
}

// A task waited for alone is read whole and handed to its waiter.
func TestFarHandsOverATaskWaitedForAlone(t *testing.T) {
	var s waiters.Set
	f := newFar(&s)
	release := f.far.Hold()
	w := s.Add(5)
	f.finish(5)
	f.sig <- struct{}{}
	<-w.C
	release()
	if w.Detail == nil || w.Detail.ID != 5 || w.Detail.State != store.TaskComplete {
		t.Fatalf("waiter got %+v, want task 5 complete", w.Detail)
	}
	if !slices.Equal(f.read, []int64{5}) || len(f.asked) != 0 {
		t.Fatalf("read %v and asked %v; want task 5 read", f.read, f.asked)
	}
}

// A task still running is not handed over.
func TestFarLeavesARunningTaskWaitedForAlone(t *testing.T) {
	var s waiters.Set
	f := newFar(&s)
	release := f.far.Hold()
	w := s.Add(5)
	f.sig <- struct{}{}
	f.sig <- struct{}{} // taken only after the first: its look has begun
	release()
	if woken(w) {
		t.Fatal("the waiter of a running task was woken")
	}
	if len(f.read) == 0 {
		t.Fatal("the task was not read")
	}
}

// When the store cannot answer, every waiter is woken to read its own.
func TestFarWakesEveryoneWhenItCannotTell(t *testing.T) {
	var s waiters.Set
	f := newFar(&s)
	f.fail = true
	release := f.far.Hold()
	defer release()
	a, b := s.Add(1), s.Add(2)
	f.sig <- struct{}{}
	<-a.C
	<-b.C
}

// Holders share one goroutine; it stops with the last release, and a
// later Hold starts it again.
func TestFarRunsWhileHeld(t *testing.T) {
	var s waiters.Set
	f := newFar(&s)
	r1, r2 := f.far.Hold(), f.far.Hold()
	r1()
	r1() // a second call changes nothing
	if f.stopped != 0 {
		t.Fatal("stopped while still held")
	}
	r2()
	if f.started != 1 || f.stopped != 1 {
		t.Fatalf("started %d, stopped %d; want 1 and 1", f.started, f.stopped)
	}
	f.far.Hold()()
	if f.started != 2 || f.stopped != 2 {
		t.Fatalf("started %d, stopped %d after a second Hold; want 2 and 2", f.started, f.stopped)
	}
}

// With Linger, the goroutine outlives its last release: a Hold within it
// uses the same one; once no one holds it for Linger, it stops.
func TestFarLingers(t *testing.T) {
	var s waiters.Set
	f := newFar(&s)
	f.far.Linger = time.Hour
	f.far.Hold()()
	f.far.Hold()()
	f.mu.Lock()
	started, stopped := f.started, f.stopped
	f.mu.Unlock()
	if started != 1 || stopped != 0 {
		t.Fatalf("two waits in turn: started %d, stopped %d; want 1 and 0 (lingering)", started, stopped)
	}
	f.far.Close()
	f.mu.Lock()
	stopped = f.stopped
	f.mu.Unlock()
	if stopped != 1 {
		t.Fatalf("Close: stopped %d times, want 1", stopped)
	}
	<-f.stops // Close's
	f.far.Linger = time.Millisecond
	f.far.Hold()()
	select { // stops by itself once the linger passes
	case <-f.stops:
	case <-time.After(10 * time.Second):
		t.Fatal("the goroutine did not stop 10 s after a 1 ms linger")
	}
	f.mu.Lock()
	started = f.started
	f.mu.Unlock()
	if started != 2 {
		t.Fatalf("started %d times, want 2", started)
	}
}
