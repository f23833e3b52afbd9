package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// An event sent to a workflow whose start is delayed (StartAfter) is kept
// for it, and does not start it before its time: the send woke every
// pending step of the task, the driver not yet started among them.
func TestEventDoesNotStartADelayedWorkflowEarly(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	var c calls
	must(t, engine.RegisterWorkflow(env.Engine, "t/later-event", func(wctx *engine.WorkflowContext, in int) (string, error) {
		c.inc("started")
		return engine.WaitEvent[string](wctx, "go", time.Hour)
	}))
	ctx := context.Background()
	t0 := env.Clock.Now()
	h, err := engine.StartWorkflow[int, string](ctx, env.Engine, "t/later-event", 1, engine.StartAfter(time.Hour))
	must(t, err)
	if !env.SendEvent(h.TaskID, "go", "k", "early") {
		t.Fatal("the event was not new")
	}
	if n, err := env.RunOnce(ctx); err != nil || n != 0 || c.get("started") != 0 {
		t.Fatalf("RunOnce after the event ran %d attempts (%v); the workflow started %d times before its time", n, err, c.get("started"))
	}
	env.RunUntilDone(h.TaskID)
	if v, err := h.Result(ctx); err != nil || v != "early" {
		t.Fatalf("result = %q, %v; want the event sent before the start", v, err)
	}
	if ran := env.Clock.Now().Sub(t0); ran < time.Hour {
		t.Fatalf("the workflow finished %s after it was started with StartAfter(1h)", ran)
	}
}
