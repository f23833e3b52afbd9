package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// Between ContinueAsNew and the run's end, the next run exists and the
// run refuses events, naming it and sending the sender to the chain's
// last run (Engine.Runs); Runs said the run was the last, not continued
// (it read the run's finished driver only), so the sender was sent back
// to the run that refuses it. Runs now names the next run from its
// creation on, and Last is the run events go to.
func TestRunsNameTheNextRunBeforeTheRunEnds(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	var during engine.RunLinks
	var runsErr error
	must(t, engine.RegisterWorkflow(env.Engine, "t/window", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in == 1 {
			return engine.WaitEvent[int](wctx, "go", time.Hour)
		}
		err := engine.ContinueAsNew(wctx, 1)
		during, runsErr = env.Engine.Runs(context.Background(), wctx.TaskID)
		return 0, err
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/window", 0)
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := env.Runs(ctx, h.TaskID)
	must(t, err)
	if runsErr != nil || after.ContinuedAs == 0 || during.ContinuedAs != after.ContinuedAs || during.Last != after.ContinuedAs {
		t.Fatalf("Runs between ContinueAsNew and the run's end: %+v, %v; want the next run, task %d, as ContinuedAs and Last", during, runsErr, after.ContinuedAs)
	}
	if _, err := env.Engine.SendEvent(ctx, during.Last, "go", "k", 5); err != nil {
		t.Fatalf("SendEvent to the Last Runs named: %v", err)
	}
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != 5 {
		t.Fatalf("result %d, %v; want the event sent to Last", got, err)
	}
}
