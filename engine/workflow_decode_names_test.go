package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// An event payload, or a child's result, that does not decode as the type
// the workflow asks for fails the workflow with an error naming the event
// (the child) and the type: it said "decoding the recorded result of step
// approval", naming a step the workflow does not have.
func TestUndecodableEventAndChildNameWhatFailed(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/ev-int", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.WaitEvent[int](wctx, "approval", time.Hour)
	}))
	must(t, env.HandleFunc("one", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "dag-kid", Steps: []engine.StepTemplate{{Name: "a", Handler: "one"}}}))
	type kidResult struct {
		A string `json:"a"`
	}
	must(t, engine.RegisterWorkflow(env.Engine, "t/parent-of-dag", func(wctx *engine.WorkflowContext, in int) (kidResult, error) {
		return engine.Child[kidResult](wctx, "t/dag-kid", nil) // step a's result is a number
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/ev-int", 1)
	must(t, err)
	env.SendEvent(h.TaskID, "approval", "k", "yes")
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(ctx)
	if want := `decoding the payload of event "approval" (sequence 1) as int`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("event of another type: %v; want it to say %q", err, want)
	}
	if errors.Is(err, engine.ErrEventTimeout) {
		t.Fatalf("event of another type: %v is a timeout", err)
	}
	p, err := engine.StartWorkflow[int, kidResult](ctx, env.Engine, "t/parent-of-dag", 1)
	must(t, err)
	env.RunUntilDone(p.TaskID)
	_, err = p.Result(ctx)
	if want := `decoding the result of child "t/dag-kid" (sequence 1) as engine_test.kidResult`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("child result of another type: %v; want it to say %q", err, want)
	}
}
