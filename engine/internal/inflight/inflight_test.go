package inflight

import (
	"context"
	"errors"
	"testing"

	"github.com/tasker-go/tasker/store"
)

// The same step claimed again in this process: Add hands back the older
// attempt's cancel, and the older attempt's Remove leaves the newer one.
func TestAddSupersedesAnOlderAttempt(t *testing.T) {
	var s Set
	old, cancelOld := context.WithCancelCause(context.Background())
	defer cancelOld(nil)
	first := store.Lease{StepID: 1, Token: 10}
	second := store.Lease{StepID: 1, Token: 11}
	if got := s.Add(first, 7, cancelOld); got != nil {
		t.Fatal("a first attempt superseded something")
	}
	_, cancelNew := context.WithCancelCause(context.Background())
	defer cancelNew(nil)
	superseded := s.Add(second, 7, cancelNew)
	if superseded == nil {
		t.Fatal("the older attempt was not handed back")
	}
	lost := errors.New("lease lost")
	superseded(lost)
	if context.Cause(old) != lost {
		t.Fatalf("older attempt's cause %v", context.Cause(old))
	}
	s.Remove(first)
	if l, ok := s.Lease(1); !ok || l != second {
		t.Fatalf("after the older attempt's Remove: %v %v; want the newer lease", l, ok)
	}
	s.Remove(second)
	if s.Len() != 0 {
		t.Fatal("Remove of the current lease left it")
	}
}
