package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// A result over Config.MaxPayloadBytes is one failure whatever the step:
// a durable step's was recorded as permanent, a DAG step's as
// payload_too_large, so a caller telling them apart by Kind (or Code)
// missed one of the two.
func TestOversizedResultIsPayloadTooLargeForEveryStep(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{MaxPayloadBytes: 1024}})
	must(t, env.HandleFunc("big", func(*engine.StepContext) (any, error) { return strings.Repeat("x", 2048), nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "big", Steps: []engine.StepTemplate{{Name: "s", Handler: "big"}}}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/bigdurable", func(wctx *engine.WorkflowContext, _ int) (string, error) {
		return engine.Step(wctx, "s", func(context.Context) (string, error) { return strings.Repeat("x", 2048), nil })
	}))
	dag, err := env.Start(context.Background(), "t/big", nil)
	must(t, err)
	durable, err := engine.StartWorkflow[int, string](context.Background(), env.Engine, "t/bigdurable", 1)
	must(t, err)
	env.RunUntilDone(dag.TaskID, durable.TaskID)
	for what, id := range map[string]int64{"DAG": dag.TaskID, "durable": durable.TaskID} {
		f := lastFailure(t, env, id)
		if f.Kind != engine.KindPayloadTooLarge || f.Code != engine.KindPayloadTooLarge || !strings.Contains(f.Message, "MaxPayloadBytes") {
			t.Errorf("the %s step's oversized result failed as kind %q code %q (%s); want payload_too_large", what, f.Kind, f.Code, f.Message)
		}
	}
}

// ErrPayloadTooLarge says "an input, event payload or result is over
// Config.MaxPayloadBytes", but a task failed by its step's oversized
// result did not match it (errors.Is), as a timed-out one matches
// ErrWorkflowTimeout: the sentinel held for a refused Start only.
func TestOversizedResultFailureIsErrPayloadTooLarge(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{MaxPayloadBytes: 1024}})
	must(t, env.HandleFunc("big", func(*engine.StepContext) (any, error) { return strings.Repeat("x", 2048), nil }))
	must(t, env.HandleFunc("bad", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("bad request")) }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "big", Steps: []engine.StepTemplate{{Name: "s", Handler: "big"}}}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "bad", Steps: []engine.StepTemplate{{Name: "s", Handler: "bad"}}}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/bigdurable", func(wctx *engine.WorkflowContext, _ int) (string, error) {
		return engine.Step(wctx, "s", func(context.Context) (string, error) { return strings.Repeat("x", 2048), nil })
	}))
	ctx := context.Background()
	dag, err := env.Start(ctx, "t/big", nil)
	must(t, err)
	bad, err := env.Start(ctx, "t/bad", nil)
	must(t, err)
	durable, err := engine.StartWorkflow[int, string](ctx, env.Engine, "t/bigdurable", 1)
	must(t, err)
	env.RunUntilDone(dag.TaskID, bad.TaskID, durable.TaskID)
	for what, id := range map[string]int64{"DAG": dag.TaskID, "durable": durable.TaskID} {
		if o, err := env.Wait(ctx, id); err != nil || !errors.Is(o.Err(), engine.ErrPayloadTooLarge) {
			t.Errorf("the %s task's failure %v (%v) does not match ErrPayloadTooLarge", what, o.Err(), err)
		}
	}
	if o, err := env.Wait(ctx, bad.TaskID); err != nil || o.Err() == nil || errors.Is(o.Err(), engine.ErrPayloadTooLarge) {
		t.Errorf("a permanent error's task failure %v (%v) matches ErrPayloadTooLarge", o.Err(), err)
	}
}

// Inside the workflow, the error engine.Step returns for the same failure
// matches ErrPayloadTooLarge as the task's does (and ErrStepFailed still):
// a workflow author testing errors.Is(err, engine.ErrPayloadTooLarge) to
// take another path got false.
func TestDurableStepFailedErrorIsErrPayloadTooLarge(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{MaxPayloadBytes: 1024}})
	type seen struct{ TooLarge, StepFailed, Timeout bool }
	must(t, engine.RegisterWorkflow(env.Engine, "t/bigcaught", func(wctx *engine.WorkflowContext, _ int) (seen, error) {
		_, err := engine.Step(wctx, "s", func(context.Context) (string, error) { return strings.Repeat("x", 2048), nil })
		if err == nil {
			return seen{}, errors.New("the oversized result did not fail the step")
		}
		return seen{errors.Is(err, engine.ErrPayloadTooLarge), errors.Is(err, engine.ErrStepFailed), errors.Is(err, engine.ErrWorkflowTimeout)}, nil
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, seen](ctx, env.Engine, "t/bigcaught", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	got, err := h.Result(ctx)
	must(t, err)
	if want := (seen{TooLarge: true, StepFailed: true}); got != want {
		t.Errorf("the StepFailedError of a durable step's oversized result matched %+v; want %+v", got, want)
	}
}
