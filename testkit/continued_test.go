package testkit_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// RunUntilDone of a workflow that continues as new runs it to the end of
// its chain, where its result is: it stopped once the first run had
// continued, and WorkflowHandle.Result, which follows the chain, then
// waited for ever for runs no worker would run.
func TestRunUntilDoneFollowsContinueAsNew(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/loop", func(wctx *engine.WorkflowContext, n int) (int, error) {
		if err := engine.Sleep(wctx, time.Minute); err != nil {
			return 0, err
		}
		if n < 3 {
			return 0, engine.ContinueAsNew(wctx, n+1)
		}
		return n, nil
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/loop", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	last, runs := h.TaskID, 1
	for {
		r, err := env.Runs(ctx, last)
		must(t, err)
		if r.ContinuedAs == 0 {
			break
		}
		last, runs = r.ContinuedAs, runs+1
	}
	if st := env.Task(last).Task.State; runs != 3 || st != store.TaskComplete {
		t.Fatalf("after RunUntilDone the chain has %d runs, its last (task %d) %s; want 3, complete", runs, last, st)
	}
	if v, err := h.Result(ctx); err != nil || v != 3 {
		t.Fatalf("result = %d, %v; want 3", v, err)
	}
}
