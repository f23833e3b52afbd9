package waiters_test

import (
	"runtime"
	"testing"

	"github.com/tasker-go/tasker/engine/internal/waiters"
	"github.com/tasker-go/tasker/store"
)

func TestNotifyWakesOnlyThatTasksWaiters(t *testing.T) {
	var s waiters.Set
	a1, a2, b := s.Add(1), s.Add(1), s.Add(2)
	if !s.Has(1) || !s.Has(2) || s.Has(3) {
		t.Fatal("Has does not match the waiters added")
	}
	s.Notify(1)
	for _, w := range []*waiters.Waiter{a1, a2} {
		select {
		case <-w.C:
		default:
			t.Fatal("a waiter of task 1 was not woken")
		}
		if w.Detail != nil {
			t.Fatal("Notify handed over a task")
		}
	}
	if s.Has(1) {
		t.Fatal("task 1 still waited for after Notify")
	}
	select {
	case <-b.C:
		t.Fatal("task 2's waiter was woken by task 1")
	default:
	}
	s.Drop(2, b)
	if s.Len() != 0 {
		t.Fatalf("%d tasks still waited for", s.Len())
	}
}

func TestNotifyDoneHandsTheTaskToEveryWaiter(t *testing.T) {
	var s waiters.Set
	w1, w2 := s.Add(7), s.Add(7)
	d := &store.TaskOutcome{ID: 7, State: store.TaskComplete}
	s.NotifyDone(7, d)
	for _, w := range []*waiters.Waiter{w1, w2} {
		<-w.C
		if w.Detail != d {
			t.Fatalf("waiter got %v, want the finished task", w.Detail)
		}
	}
}

func TestKeepHoldsTheTerminalTaskWhileHeld(t *testing.T) {
	var s waiters.Set
	a := s.Keep("k")
	if s.Keep("k") != a {
		t.Fatal("a second Keep of key k returned another slot")
	}
	if !s.Wanted("k") || s.Has(1) {
		t.Fatal("an empty slot held: want Wanted(k) and not Has(1) (no one waits yet)")
	}
	s.NotifyDone(1, &store.TaskOutcome{ID: 1, IdentityKey: "k", State: store.TaskError})
	if a.Load() != nil {
		t.Fatal("the slot kept a task in error, which an operator's retry changes")
	}
	s.NotifyDone(2, &store.TaskOutcome{ID: 2, IdentityKey: "other", State: store.TaskComplete})
	if a.Load() != nil {
		t.Fatal("the slot of key k kept a task of another key")
	}
	d := &store.TaskOutcome{ID: 1, IdentityKey: "k", State: store.TaskComplete}
	s.NotifyDone(1, d)
	if a.Load() != d {
		t.Fatal("the slot did not keep the completed task")
	}
	if s.Wanted("k") {
		t.Fatal("Wanted(k) is true with the slot full")
	}
	runtime.KeepAlive(a)
	a = nil
	// Once no one holds the slot, the set forgets it (a cleanup, run
	// after a collection).
	for i := 0; s.KeptLen() > 0; i++ {
		if i == 1000 {
			t.Fatalf("%d slots still kept after 1000 collections", s.KeptLen())
		}
		runtime.GC()
		runtime.Gosched()
	}
}
