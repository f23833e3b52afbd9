package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A parent that fails its WithWorkflowTimeout while waiting for a child
// cancels the child, as Cancel does, whichever path fails it: the
// maintenance pass that sweeps tasks past their deadline, or the parent's
// own run, claimed after it. The child ran on for days (its event wait
// lasts 72h) with no one left to read its result.
func TestParentTimeoutCancelsItsChildren(t *testing.T) {
	for _, path := range []string{"swept", "run"} {
		t.Run(path, func(t *testing.T) {
			env := testkit.NewEngine(t, nil)
			ctx := context.Background()
			must(t, engine.RegisterWorkflow(env.Engine, "kids/waiter", func(wctx *engine.WorkflowContext, _ int) (string, error) {
				return engine.WaitEvent[string](wctx, "go", 72*time.Hour)
			}))
			must(t, engine.RegisterWorkflow(env.Engine, "kids/boss", func(wctx *engine.WorkflowContext, _ int) (string, error) {
				return engine.Child[string](wctx, "kids/waiter", 1)
			}))
			// The deadline comes before the parent's re-check (5 min).
			h, err := engine.StartWorkflow[int, string](ctx, env.Engine, "kids/boss", 1, engine.WithWorkflowTimeout(3*time.Minute))
			must(t, err)
			for range 3 { // the parent starts the child, the child suspends on its event
				_, err := env.RunOnce(ctx)
				must(t, err)
			}
			page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{ParentID: &h.TaskID})
			must(t, err)
			if len(page.Tasks) != 1 {
				t.Fatalf("%d children before the deadline, want 1", len(page.Tasks))
			}
			child := page.Tasks[0].ID
			if st := env.Task(child).Task.State; st.Done() {
				t.Fatalf("the child is %s before its parent's deadline", st)
			}
			switch path {
			case "swept":
				env.Clock.Advance(4 * time.Minute)
				if _, err := env.Rescue(ctx); err != nil {
					t.Fatal(err)
				}
			case "run": // the parent's re-check claims it past its deadline
				env.Clock.Advance(6 * time.Minute)
				if _, err := env.RunOnce(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := h.Result(ctx); !errors.Is(err, engine.ErrWorkflowTimeout) {
				t.Fatalf("parent result: %v, want ErrWorkflowTimeout", err)
			}
			if st := env.Task(child).Task.State; st != store.TaskCancelled {
				t.Fatalf("the child is %s after its parent timed out, want cancelled", st)
			}
		})
	}
}
