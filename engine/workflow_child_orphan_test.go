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
		{"cancelled", "ended in state cancelled", func(t *testing.T, env *testkit.Env, parent int64) {
			if _, err := env.Store.CancelTask(context.Background(), &store.CancelTaskParams{TaskID: parent, Now: env.Clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}},
		{"resolved", "ended in state resolved_manually", func(t *testing.T, env *testkit.Env, parent int64) {
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

// Each child cancelled because its parent ended is told which parent and
// in what state, down a chain of children: the child of a cancelled
// child names the child, not the task the cancel began at (Cancel gave
// its whole tree the reason given for the top), and the reason given for
// the top is kept after it. The maintenance pass's sweep names them so
// too.
func TestCancelledChildrenNameTheirParent(t *testing.T) {
	for _, by := range []string{"cancel", "sweep"} {
		t.Run(by, func(t *testing.T) {
			ctx := context.Background()
			env := testkit.NewEngine(t, nil)
			must(t, engine.RegisterWorkflow(env.Engine, "t/leaf", func(wctx *engine.WorkflowContext, _ int) (int, error) {
				return engine.WaitEvent[int](wctx, "go", 48*time.Hour)
			}))
			must(t, engine.RegisterWorkflow(env.Engine, "t/mid", func(wctx *engine.WorkflowContext, _ int) (int, error) {
				return engine.Child[int](wctx, "t/leaf", 1)
			}))
			must(t, engine.RegisterWorkflow(env.Engine, "t/top", func(wctx *engine.WorkflowContext, _ int) (int, error) {
				return engine.Child[int](wctx, "t/mid", 1)
			}))
			h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/top", 1)
			must(t, err)
			childOf := func(parent int64) int64 {
				t.Helper()
				page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{ParentID: &parent, Limit: 10})
				must(t, err)
				if len(page.Tasks) != 1 {
					t.Fatalf("task %d has %d children, want 1", parent, len(page.Tasks))
				}
				return page.Tasks[0].ID
			}
			for range 10 {
				_, err := env.RunOnce(ctx)
				must(t, err)
			}
			mid := childOf(h.TaskID)
			leaf := childOf(mid)
			if st := env.Task(leaf).Task.State; st.Done() {
				t.Fatalf("the leaf is %s before its grandparent ended, want it running", st)
			}
			why := ""
			switch by {
			case "cancel":
				must(t, env.Cancel(ctx, h.TaskID, "no longer needed"))
				why = ": no longer needed"
			case "sweep": // ended through the store alone: no hook cancels the children
				if _, err := env.Store.CancelTask(ctx, &store.CancelTaskParams{TaskID: h.TaskID, Now: env.Clock.Now()}); err != nil {
					t.Fatal(err)
				}
				if _, err := env.Rescue(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []struct {
				id   int64
				want string
			}{
				{mid, fmt.Sprintf("its parent, task %d, ended in state cancelled%s", h.TaskID, why)},
				{leaf, fmt.Sprintf("its parent, task %d, ended in state cancelled: its parent, task %d, ended in state cancelled%s", mid, h.TaskID, why)},
			} {
				hist, err := env.Store.History(ctx, c.id)
				must(t, err)
				last := hist.Task[len(hist.Task)-1]
				if last.ToState != string(store.TaskCancelled) || !strings.Contains(string(last.Metadata), c.want) {
					t.Errorf("task %d: last move to %s with %s; want cancelled with the reason %q", c.id, last.ToState, last.Metadata, c.want)
				}
			}
		})
	}
}
