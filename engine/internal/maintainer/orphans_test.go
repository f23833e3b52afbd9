package maintainer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/inflight"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
)

// A pass cancels at most OrphanPerPass children of ended parents, in
// batches of at most OrphanBatch; the next pass goes on. A batch the hook
// could not cancel whole ends the pass: it would be read again at once.
func TestCloseOrphansIsBoundedPerPass(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	parent, err := s.CreateTask(ctx, &store.CreateTaskParams{Namespace: "t", Name: "parent", Kind: store.KindCode, IdentityKey: "parent",
		Context: store.JSON(`{}`), Steps: []store.NewStep{{Name: "s", Handler: "h", Retryable: true}}, Now: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TransitionTask(ctx, &store.TransitionTaskParams{TaskID: parent.Task.ID, From: store.TaskPending, To: store.TaskCancelled, Now: epoch}); err != nil {
		t.Fatal(err)
	}
	const orphans = OrphanPerPass + OrphanBatch/2
	for done := 0; done < orphans; {
		batch := min(500, orphans-done)
		ps := make([]*store.CreateTaskParams, batch)
		for i := range ps {
			ps[i] = &store.CreateTaskParams{Namespace: "t", Name: "child", Kind: store.KindCode, IdentityKey: fmt.Sprintf("child-%d", done+i),
				Context: store.JSON(`{}`), Steps: []store.NewStep{{Name: "s", Handler: "h", Retryable: true}}, ParentID: &parent.Task.ID, Now: epoch}
		}
		if _, err := s.CreateTasks(ctx, ps); err != nil {
			t.Fatal(err)
		}
		done += batch
	}
	var batches []int
	cancel := true
	m := New(Config{Owner: "w", LeaseTTL: time.Minute, RescueInterval: time.Second}, s, clock.NewFake(epoch), zap.NewNop(), &inflight.Set{},
		Hooks{Orphans: func(ctx context.Context, os []store.Orphan) int {
			batches = append(batches, len(os))
			if !cancel {
				return 0
			}
			for _, o := range os {
				if o.ParentID != parent.Task.ID || o.ParentState != store.TaskCancelled {
					t.Fatalf("orphan %+v, want a child of cancelled task %d", o, parent.Task.ID)
				}
				if _, err := s.CancelTask(ctx, &store.CancelTaskParams{TaskID: o.ID, Now: epoch}); err != nil {
					t.Fatal(err)
				}
			}
			return len(os)
		}})

	cancel = false
	if n := m.CloseOrphans(ctx); n != 0 || len(batches) != 1 {
		t.Fatalf("a hook that cancels none: %d cancelled in %d batches, want 0 in 1", n, len(batches))
	}
	cancel, batches = true, nil
	if n := m.CloseOrphans(ctx); n != OrphanPerPass {
		t.Fatalf("the first pass cancelled %d, want %d", n, OrphanPerPass)
	}
	for _, b := range batches {
		if b > OrphanBatch {
			t.Fatalf("batches %v, want none over %d", batches, OrphanBatch)
		}
	}
	if n := m.CloseOrphans(ctx); n != orphans-OrphanPerPass {
		t.Fatalf("the second pass cancelled %d, want the %d left", n, orphans-OrphanPerPass)
	}
	if n := m.CloseOrphans(ctx); n != 0 {
		t.Fatalf("a third pass cancelled %d, want 0", n)
	}
}
