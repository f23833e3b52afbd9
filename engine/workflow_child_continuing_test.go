package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A parent cancelled while its child is between ContinueAsNew and its
// return cancels the child's next run (a child of the parent too) and
// reports no error: Cancel refuses the continuing run itself, which ends
// continued, and the cancel of the children went on past that refusal.
func TestCancelOfAParentPassesAContinuingChildOn(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	ctx := context.Background()
	var parentID, childID int64
	var cancelErr error
	must(t, engine.RegisterWorkflow(env.Engine, "t/child", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in == 1 {
			return engine.WaitEvent[int](wctx, "go", time.Hour)
		}
		childID = wctx.TaskID
		err := engine.ContinueAsNew(wctx, 1)
		cancelErr = env.Engine.Cancel(context.Background(), parentID, "stop")
		return 0, err
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/parent", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.Child[int](wctx, "t/child", 0)
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/parent", 0)
	must(t, err)
	parentID = h.TaskID
	env.RunUntilDone(h.TaskID)
	if cancelErr != nil {
		t.Fatalf("Cancel of the parent: %v", cancelErr)
	}
	r, err := env.Runs(ctx, childID)
	must(t, err)
	for id, want := range map[int64]store.TaskState{h.TaskID: store.TaskCancelled, childID: store.TaskComplete, r.ContinuedAs: store.TaskCancelled} {
		d, err := env.Store.GetTask(ctx, id)
		must(t, err)
		if d.Task.State != want {
			t.Errorf("task %d is %s, want %s", id, d.Task.State, want)
		}
	}
}
