package waiters_test

import (
	"testing"

	"github.com/tasker-go/tasker/engine/internal/waiters"
)

func TestNotifyWakesOnlyThatTasksWaiters(t *testing.T) {
	var s waiters.Set
	a1, a2, b := s.Add(1), s.Add(1), s.Add(2)
	s.Notify(1)
	for _, ch := range []chan struct{}{a1, a2} {
		select {
		case <-ch:
		default:
			t.Fatal("a waiter of task 1 was not woken")
		}
	}
	select {
	case <-b:
		t.Fatal("task 2's waiter was woken by task 1")
	default:
	}
	s.Drop(2, b)
	if s.Len() != 0 {
		t.Fatalf("%d tasks still waited for", s.Len())
	}
}
