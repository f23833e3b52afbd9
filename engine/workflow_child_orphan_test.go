package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A parent that ended for good while its process died before cancelling
// its children — here it is ended through the store alone, so no engine
// hook runs — leaves them running; the next maintenance pass cancels
// them, with the reason the process would have given: cancelled, resolved
// by hand.
func TestMaintenanceCancelsChildrenOfEndedParents(t *testing.T) {
	for _, ended := range []struct {
		name, reason string
		end          func(t *testing.T, env *testkit.Env, parent int64)
	}{
		{"cancelled", "was cancelled", func(t *testing.T, env *testkit.Env, parent int64) {
			if _, err := env.Store.CancelTask(context.Background(), &store.CancelTaskParams{TaskID: parent, Now: env.Clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}},
		{"resolved", "was resolved by hand", func(t *testing.T, env *testkit.Env, parent int64) {
			sweepDeadline(t, env)
			if _, err := env.Store.TransitionTask(context.Background(), &store.TransitionTaskParams{TaskID: parent,
				From: store.TaskError, To: store.TaskResolvedManually, Now: env.Clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(ended.name, func(t *testing.T) {
			ctx := context.Background()
			env := testkit.NewEngine(t, nil)
			h, children := parentWaitingOnChild(t, env)
			c := children()
			if len(c) != 1 || c[0].State.Done() {
				t.Fatalf("children %+v, want one running", c)
			}
			child := c[0].ID
			ended.end(t, env, h.TaskID)
			if st := env.Task(child).Task.State; st.Done() {
				t.Fatalf("the child is %s after the store alone ended its parent, want it running still", st)
			}
			n, err := env.Rescue(ctx)
			must(t, err)
			if st := env.Task(child).Task.State; st != store.TaskCancelled || n != 1 {
				t.Fatalf("after a maintenance pass the child is %s (pass moved %d); want cancelled (1)", st, n)
			}
			hist, err := env.Store.History(ctx, child)
			must(t, err)
			last := hist.Task[len(hist.Task)-1]
			if want := fmt.Sprintf("its parent, task %d, %s", h.TaskID, ended.reason); !strings.Contains(string(last.Metadata), want) {
				t.Errorf("the child's cancel says %s, want the reason %q", last.Metadata, want)
			}
			if n, err := env.Rescue(ctx); err != nil || n != 0 {
				t.Fatalf("a second pass moved %d, %v; want nothing", n, err)
			}
		})
	}
}

// A child whose parent is in error is no orphan: the parent may be
// retried, and reads it then, and an operator may have retried the child
// by hand (a failed child stays as it is) to have it read. The
// maintenance pass leaves it running; the "resolved" case of
// TestMaintenanceCancelsChildrenOfEndedParents cancels it once the parent
// ends for good.
func TestMaintenanceKeepsChildrenOfParentsInError(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	h, children := parentWaitingOnChild(t, env)
	child := children()[0].ID
	sweepDeadline(t, env) // the parent in error, its children left as they were
	if st := env.Task(h.TaskID).Task.State; st != store.TaskError {
		t.Fatalf("the parent is %s, want error", st)
	}
	n, err := env.Rescue(ctx)
	must(t, err)
	if st := env.Task(child).Task.State; st.Done() || n != 0 {
		t.Fatalf("after a maintenance pass the child of a parent in error is %s (pass moved %d); want it running still (0)", st, n)
	}
}

// sweepDeadline fails the tasks past their deadline as the store's sweep
// alone does (two hours on: past the parent's WithWorkflowTimeout).
func sweepDeadline(t *testing.T, env *testkit.Env) {
	t.Helper()
	env.Clock.Advance(2 * time.Hour)
	swept, err := env.Store.RescueExpired(context.Background(), &store.RescueExpiredParams{Now: env.Clock.Now(), DeadlineCause: store.JSON(`{"kind":"workflow_timeout"}`)})
	if err != nil || swept.TimedOut != 1 {
		t.Fatalf("the store's sweep: %+v, %v; want the parent failed", swept, err)
	}
}

// parentWaitingOnChild registers "t/child" (an event wait of two days) and
// "t/parent" (one Child of it), starts a parent with a one-hour
// WithWorkflowTimeout and runs it until its child waits; children lists
// the parent's children as they are now.
func parentWaitingOnChild(t *testing.T, env *testkit.Env) (h *engine.WorkflowHandle[int], children func() []*store.Task) {
	t.Helper()
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/child", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.WaitEvent[int](wctx, "go", 48*time.Hour)
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/parent", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.Child[int](wctx, "t/child", 1)
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/parent", 1, engine.WithWorkflowTimeout(time.Hour))
	must(t, err)
	children = func() []*store.Task {
		page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{ParentID: &h.TaskID, Limit: 10})
		must(t, err)
		return page.Tasks
	}
	for range 10 {
		if c := children(); len(c) == 1 && c[0].State != store.TaskPending {
			break
		}
		_, err := env.RunOnce(ctx)
		must(t, err)
	}
	return h, children
}
