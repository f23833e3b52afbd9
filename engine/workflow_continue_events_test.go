package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// Events a run accepted and did not read go on to the run that continues
// it: a loop that reads one tick and continues as new read the first of
// two ticks sent before it ran; the second stayed on the first run, which
// no wait reads any more, and the next run timed out waiting for it
// (SendEvent promises an event is kept for a later wait).
func TestEventsNotReadMoveToTheNextRun(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/ticks", func(wctx *engine.WorkflowContext, seen int) (int, error) {
		tick, err := engine.WaitEvent[int](wctx, "tick", time.Hour)
		if err != nil {
			return seen, err
		}
		if seen+tick < 3 {
			return 0, engine.ContinueAsNew(wctx, seen+tick)
		}
		return seen + tick, nil
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/ticks", 0)
	must(t, err)
	for _, k := range []string{"a", "b", "c"} {
		if !env.SendEvent(h.TaskID, "tick", k, 1) {
			t.Fatalf("tick %s was not new", k)
		}
	}
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != 3 {
		t.Fatalf("result %d, %v; want the three ticks read, one per run", got, err)
	}
	// Each run read one; none is left behind on a run that will not read it.
	runs, id := 0, h.TaskID
	for id != 0 {
		runs++
		r, err := env.Runs(ctx, id)
		must(t, err)
		id = r.ContinuedAs
	}
	if runs != 3 {
		t.Fatalf("%d runs, want 3", runs)
	}
}
