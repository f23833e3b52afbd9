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

// A pass tries at most OrphanPerPass children of ended parents, in
// batches of at most OrphanBatch (a tenth of each here: small); the next
// pass goes on after them, and past the end on from the first, up to where
// it started.
func TestCloseOrphansIsBoundedPerPass(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	const orphans = testOrphanPerPass + testOrphanBatch/2
	parent := cancelledParentWithChildren(t, s, orphans)
	var batches []int
	cancel := true
	m := New(Config{Owner: "w", LeaseTTL: time.Minute, RescueInterval: time.Second}, s, clock.NewFake(epoch), zap.NewNop(), &inflight.Set{},
		Hooks{Orphans: func(ctx context.Context, os []store.Orphan) int {
			batches = append(batches, len(os))
			if !cancel {
				return 0
			}
			for _, o := range os {
				if o.ParentID != parent || o.ParentState != store.TaskCancelled {
					t.Fatalf("orphan %+v, want a child of cancelled task %d", o, parent)
				}
				if _, err := s.CancelTask(ctx, &store.CancelTaskParams{TaskID: o.ID, Now: epoch}); err != nil {
					t.Fatal(err)
				}
			}
			return len(os)
		}})
	small(m)

	sum := func(bs []int) (n int) {
		for _, b := range bs {
			if b > testOrphanBatch {
				t.Fatalf("batches %v, want none over %d", bs, testOrphanBatch)
			}
			n += b
		}
		return n
	}
	cancel = false
	if n := m.CloseOrphans(ctx); n != 0 || sum(batches) != testOrphanPerPass {
		t.Fatalf("a hook that cancels none: %d cancelled of %d tried (batches %v), want 0 of %d", n, sum(batches), batches, testOrphanPerPass)
	}
	batches = nil
	if n := m.CloseOrphans(ctx); n != 0 || sum(batches) != testOrphanPerPass {
		t.Fatalf("the next pass, cancelling none: tried %d, want the %d after the first pass's and then %d from the first", sum(batches), orphans-testOrphanPerPass, 2*testOrphanPerPass-orphans)
	}
	cancel, batches = true, nil
	if n := m.CloseOrphans(ctx); n != testOrphanPerPass || sum(batches) != testOrphanPerPass {
		t.Fatalf("the pass after cancelled %d of %d tried, want %d", n, sum(batches), testOrphanPerPass)
	}
	if n := m.CloseOrphans(ctx); n != orphans-testOrphanPerPass {
		t.Fatalf("the pass after cancelled %d, want the %d left", n, orphans-testOrphanPerPass)
	}
	if n := m.CloseOrphans(ctx); n != 0 {
		t.Fatalf("a last pass cancelled %d, want 0", n)
	}
}

// cancelledParentWithChildren makes a cancelled task with n unfinished
// children (orphans) and returns its id.
func cancelledParentWithChildren(t *testing.T, s store.Store, n int) int64 {
	t.Helper()
	ctx := context.Background()
	parent, err := s.CreateTask(ctx, &store.CreateTaskParams{Namespace: "t", Name: "parent", Kind: store.KindCode, IdentityKey: "parent",
		Context: store.JSON(`{}`), Steps: []store.NewStep{{Name: "s", Handler: "h", Retryable: true}}, Now: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TransitionTask(ctx, &store.TransitionTaskParams{TaskID: parent.Task.ID, From: store.TaskPending, To: store.TaskCancelled, Now: epoch}); err != nil {
		t.Fatal(err)
	}
	for done := 0; done < n; {
		batch := min(500, n-done)
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
	return parent.Task.ID
}

// A child the hook cannot cancel (its cancel keeps failing) holds back
// no other: the pass goes on past it, through the rest of the backlog,
// and the next pass comes back to it.
func TestCloseOrphansGoesPastAStuckChild(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	const orphans = 2*testOrphanBatch + testOrphanBatch/2
	parent := cancelledParentWithChildren(t, s, orphans)
	stuck := int64(0) // the lowest id: read first every time
	var tried []int64
	m := New(Config{Owner: "w", LeaseTTL: time.Minute, RescueInterval: time.Second}, s, clock.NewFake(epoch), zap.NewNop(), &inflight.Set{},
		Hooks{Orphans: func(ctx context.Context, os []store.Orphan) int {
			n := 0
			for _, o := range os {
				if o.ParentID != parent {
					t.Fatalf("orphan %+v, want a child of task %d", o, parent)
				}
				tried = append(tried, o.ID)
				if stuck == 0 {
					stuck = o.ID
				}
				if o.ID == stuck {
					continue
				}
				if _, err := s.CancelTask(ctx, &store.CancelTaskParams{TaskID: o.ID, Now: epoch}); err != nil {
					t.Fatal(err)
				}
				n++
			}
			return n
		}})
	small(m)
	if n := m.CloseOrphans(ctx); n != orphans-1 {
		t.Fatalf("a pass with one child it cannot cancel cancelled %d, want the other %d", n, orphans-1)
	}
	tried = nil
	if n := m.CloseOrphans(ctx); n != 0 || len(tried) != 1 || tried[0] != stuck {
		t.Fatalf("the next pass cancelled %d and tried %v; want 0, and the stuck child %d tried again", n, tried, stuck)
	}
}

// A pass that starts past the first orphans (where the last pass stopped,
// at its bound) goes on from the first once it has read to the end: an
// Engine.Rescue called after a maintenance pass that stopped midway
// cancelled only the orphans past its position, leaving the others to
// later passes though it had the budget for them.
func TestCloseOrphansWrapsWithinAPass(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	const orphans = testOrphanPerPass + testOrphanBatch/2
	cancelledParentWithChildren(t, s, orphans)
	cancel := false
	m := New(Config{Owner: "w", LeaseTTL: time.Minute, RescueInterval: time.Second}, s, clock.NewFake(epoch), zap.NewNop(), &inflight.Set{},
		Hooks{Orphans: func(ctx context.Context, os []store.Orphan) int {
			if !cancel {
				return 0
			}
			for _, o := range os {
				if _, err := s.CancelTask(ctx, &store.CancelTaskParams{TaskID: o.ID, Now: epoch}); err != nil {
					t.Fatal(err)
				}
			}
			return len(os)
		}})
	small(m)
	if n := m.CloseOrphans(ctx); n != 0 { // stops at its bound
		t.Fatalf("a hook that cancels none cancelled %d", n)
	}
	cancel = true
	if n := m.CloseOrphans(ctx); n != testOrphanPerPass {
		t.Fatalf("the next pass cancelled %d, want %d: the %d past the last pass's end, then from the first", n, testOrphanPerPass, orphans-testOrphanPerPass)
	}
	if n := m.CloseOrphans(ctx); n != orphans-testOrphanPerPass {
		t.Fatalf("the pass after cancelled %d, want the %d left", n, orphans-testOrphanPerPass)
	}
}

// The bounds of the orphan tests' passes: the maintainer's, made smaller
// (small), so that a test needs a tenth of the rows.
const (
	testOrphanBatch   = OrphanBatch / 10
	testOrphanPerPass = OrphanPerPass / 10
)

// small makes m's passes as bounded as the tests' constants say.
func small(m *Maintainer) {
	m.orphanBatch, m.orphanPerPass, m.purgePerPass = testOrphanBatch, testOrphanPerPass, PurgePerPass/10
}
