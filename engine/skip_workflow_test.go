package engine_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// engine.Skip ends a skippable DAG step; a code-first workflow has no step
// to skip. Returned by a durable step's function it was taken for any
// error and retried to the step's limit, and the workflow failed on
// "step skipped"; returned by the workflow function, the refusal told the
// author to set Skippable on a template step the workflow does not have.
// Both fail at once now, saying what Skip is for.
func TestSkipInACodeFirstWorkflowIsRefused(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	var calls atomic.Int32
	must(t, engine.RegisterWorkflow(env.Engine, "t/skipstep", func(wctx *engine.WorkflowContext, _ int) (string, error) {
		return engine.Step(wctx, "charge", func(context.Context) (string, error) {
			calls.Add(1)
			return "", engine.Skip("nothing to charge")
		}, engine.WithStepBackoff(retryFast))
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/skipflow", func(wctx *engine.WorkflowContext, _ int) (string, error) {
		return "", engine.Skip("nothing to do")
	}))
	step, err := engine.StartWorkflow[int, string](ctx, env.Engine, "t/skipstep", 1)
	must(t, err)
	flow, err := engine.StartWorkflow[int, string](ctx, env.Engine, "t/skipflow", 1)
	must(t, err)
	env.RunUntilDone(step.TaskID, flow.TaskID)
	if n := calls.Load(); n != 1 {
		t.Errorf("the durable step returning Skip ran %d times; want once, failed for good", n)
	}
	for what, id := range map[string]int64{"durable step": step.TaskID, "workflow function": flow.TaskID} {
		f := lastFailure(t, env, id)
		if f.Kind != engine.KindPermanent || !strings.Contains(f.Message, "engine.Skip") || !strings.Contains(f.Message, "code-first") ||
			strings.Contains(f.Message, "template step") {
			t.Errorf("the %s's Skip failed as %s: %q; want a permanent failure saying Skip is not for a code-first workflow", what, f.Kind, f.Message)
		}
	}
}
