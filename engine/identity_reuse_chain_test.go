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

// WithIdentityReuse judges a workflow that continued as new by the chain's
// last run, where it goes on: the key's task is the first run, complete
// once it continued, so ReuseAfterDone started a second workflow beside
// the one still running, and ReuseAfterFailed, after the last run failed,
// returned the first run (whose Result is that failure) for good.
func TestIdentityReuseFollowsAContinuedWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/reuse-loop", func(wctx *engine.WorkflowContext, n int) (string, error) {
		if n == 0 {
			return "", engine.ContinueAsNew(wctx, 1)
		}
		end, err := engine.WaitEvent[string](wctx, "end", time.Hour)
		if err == nil && end == "fail" {
			err = engine.Permanent(errors.New("told to fail"))
		}
		return end, err
	}))
	ctx := context.Background()
	start := func(reuse engine.IdentityReuse) *engine.WorkflowHandle[string] {
		t.Helper()
		h, err := engine.StartWorkflow[int, string](ctx, env.Engine, "t/reuse-loop", 0, engine.WithIdempotencyKey("k"), engine.WithIdentityReuse(reuse))
		must(t, err)
		return h
	}
	first := start(engine.ReuseAfterDone)
	env.RunFor(time.Minute) // the second run waits for its event
	runs, err := env.Engine.Runs(ctx, first.TaskID)
	must(t, err)
	if runs.ContinuedAs == 0 {
		t.Fatal("the first run did not continue as new")
	}
	if again := start(engine.ReuseAfterDone); !again.Existing || again.TaskID != first.TaskID {
		t.Fatalf("ReuseAfterDone while the workflow runs (in task %d) started task %d (existing %v), want the first run %d",
			runs.ContinuedAs, again.TaskID, again.Existing, first.TaskID)
	}
	env.SendEvent(runs.ContinuedAs, "end", "", "fail")
	env.RunUntilDone(runs.ContinuedAs)
	if _, err := first.Result(ctx); err == nil {
		t.Fatal("the workflow did not fail")
	}
	if env.Task(first.TaskID).Task.State != store.TaskComplete {
		t.Fatal("the first run is not complete (continued)")
	}
	next := start(engine.ReuseAfterFailed)
	if next.Existing || next.TaskID == first.TaskID || next.TaskID == runs.ContinuedAs {
		t.Fatalf("ReuseAfterFailed after the workflow failed returned task %d (existing %v), want a new run", next.TaskID, next.Existing)
	}
	if again := start(engine.ReuseAfterFailed); again.TaskID != next.TaskID {
		t.Fatalf("a start with the key now returns task %d, want the new run %d", again.TaskID, next.TaskID)
	}
}
