package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// TestWaitWithoutPositiveTimeoutFailsTheWorkflow: WaitEvent and
// ReceiveUpdate with a timeout of 0 (a mistake for "forever") or less timed
// out at once, silently; the workflow now fails with a permanent error
// naming the call, and records no wait.
func TestWaitWithoutPositiveTimeoutFailsTheWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/wait0", func(wctx *engine.WorkflowContext, d time.Duration) (bool, error) {
		_, err := engine.WaitEvent[bool](wctx, "approval", d)
		return true, err
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/update0", func(wctx *engine.WorkflowContext, d time.Duration) (bool, error) {
		_, err := engine.ReceiveUpdate[int](wctx, "bump", d)
		return true, err
	}))
	for _, c := range []struct {
		workflow string
		d        time.Duration
		want     string
	}{
		{"t/wait0", 0, `engine.WaitEvent("approval", 0s): the timeout is not positive`},
		{"t/wait0", -time.Second, `engine.WaitEvent("approval", -1s): the timeout is not positive`},
		{"t/update0", 0, `engine.ReceiveUpdate("bump", 0s): the timeout is not positive`},
	} {
		h, err := engine.StartWorkflow[time.Duration, bool](ctx, env.Engine, c.workflow, c.d)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s(%s): %v, want a failure saying %q", c.workflow, c.d, err, c.want)
		}
		if d := env.Task(h.TaskID); d.Task.State != store.TaskError || len(env.DurableSteps(h.TaskID)) != 0 {
			t.Errorf("%s(%s): task %s with durable steps %v, want error and none", c.workflow, c.d, d.Task.State, env.DurableSteps(h.TaskID))
		}
	}
	// A positive timeout still times out after it.
	h, err := engine.StartWorkflow[time.Duration, bool](ctx, env.Engine, "t/wait0", time.Minute)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if _, err = h.Result(ctx); err == nil || !strings.Contains(err.Error(), `event "approval" did not arrive within 1m0s`) {
		t.Fatalf("a minute's wait: %v, want the timeout", err)
	}
}
