package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// TestTypedNilErrorFailsOnce: user code that returns a nil pointer in a
// non-nil error (the typed nil of a function declared to return *MyError)
// fails its step for good at once, the error naming the type: a workflow
// function, a durable step's function, a DAG handler. The failure's
// message came from its Error method, which panicked on the nil pointer:
// a DAG handler's or a workflow function's return crashed the process (the
// panic was in the worker's goroutine, outside any recover), and a durable
// step's function ran ten times (each run of the driver panicked before
// recording it).
func TestTypedNilErrorFailsOnce(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	var stepRuns, handlerRuns atomic.Int32
	typedNil := func() error {
		var e *pointerError // nothing went wrong
		return e
	}
	must(t, engine.RegisterWorkflow(env.Engine, "t/nilreturn", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return 1, typedNil()
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/nilstep", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		_, err := engine.Step(wctx, "s", func(context.Context) (int, error) { stepRuns.Add(1); return 1, typedNil() })
		return 0, err
	}))
	must(t, env.HandleFunc("nil", func(*engine.StepContext) (any, error) { handlerRuns.Add(1); return 1, typedNil() }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "nildag", Steps: []engine.StepTemplate{{Name: "a", Handler: "nil"}}}))
	const want = "returned a nil *engine_test.pointerError as its error"
	for _, wf := range []string{"t/nilreturn", "t/nilstep"} {
		h, err := engine.StartWorkflow[int, int](ctx, env.Engine, wf, 1)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want the workflow failed at once saying %q", wf, err, want)
		}
		if n := env.Task(h.TaskID).Step(engine.DriverStep).Attempts; n != 1 {
			t.Errorf("%s: the driver ran %d times, want 1", wf, n)
		}
	}
	if n := stepRuns.Load(); n != 1 {
		t.Errorf("the durable step's function ran %d times, want 1", n)
	}
	h, err := env.Start(ctx, "t/nildag", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	s := env.Task(h.TaskID).Step("a")
	if handlerRuns.Load() != 1 || !strings.Contains(string(s.LastError), want) || !strings.Contains(string(s.LastError), `"kind":"permanent"`) {
		t.Errorf("DAG handler ran %d times, last error %s; want once, failed for good saying %q", handlerRuns.Load(), s.LastError, want)
	}
}

// brokenError's Error method panics, on a value that is not nil.
type brokenError struct{ fields map[string]string }

func (e brokenError) Error() string { return e.fields["missing"][:1] } // index out of range

// An error whose Error method panics fails its step for good at once,
// saying so, as a typed nil does: recording the failure called Error
// outside any recover, and a DAG handler's or a workflow function's return
// crashed the process.
func TestErrorWhoseErrorMethodPanicsFailsOnce(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	var handlerRuns atomic.Int32
	must(t, engine.RegisterWorkflow(env.Engine, "t/brokenreturn", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return 1, brokenError{}
	}))
	must(t, env.HandleFunc("broken", func(*engine.StepContext) (any, error) { handlerRuns.Add(1); return nil, brokenError{} }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "brokendag", Steps: []engine.StepTemplate{{Name: "a", Handler: "broken"}}}))
	const want = "returned a engine_test.brokenError whose Error method panicked"
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/brokenreturn", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if _, err := h.Result(ctx); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("workflow: %v; want it failed saying %q", err, want)
	}
	d, err := env.Start(ctx, "t/brokendag", nil)
	must(t, err)
	env.RunUntilDone(d.TaskID)
	s := env.Task(d.TaskID).Step("a")
	if handlerRuns.Load() != 1 || !strings.Contains(string(s.LastError), want) || !strings.Contains(string(s.LastError), `"kind":"permanent"`) {
		t.Errorf("DAG handler ran %d times, last error %s; want once, failed for good saying %q", handlerRuns.Load(), s.LastError, want)
	}
}

// badWrap's Unwrap reads a cause it never got: on a value that is not nil,
// it panics.
type badWrap struct{ cause *struct{ err error } }

func (e *badWrap) Error() string { return "wrapped failure" }
func (e *badWrap) Unwrap() error { return e.cause.err }

// An error whose Unwrap method panics fails its step for good at once,
// saying so, as one whose Error method panics does: classifying the
// failure (errors.As over its chain) called Unwrap outside any recover,
// and a DAG handler's or a workflow function's return crashed the process.
func TestErrorWhoseUnwrapPanicsFailsOnce(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	var handlerRuns atomic.Int32
	must(t, engine.RegisterWorkflow(env.Engine, "t/badwrapreturn", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return 1, &badWrap{}
	}))
	must(t, env.HandleFunc("badwrap", func(*engine.StepContext) (any, error) { handlerRuns.Add(1); return nil, &badWrap{} }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "badwrapdag", Steps: []engine.StepTemplate{{Name: "a", Handler: "badwrap"}}}))
	const want = "returned a *engine_test.badWrap whose Unwrap, Is or As method panicked"
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/badwrapreturn", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if _, err := h.Result(ctx); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("workflow: %v; want it failed saying %q", err, want)
	}
	d, err := env.Start(ctx, "t/badwrapdag", nil)
	must(t, err)
	env.RunUntilDone(d.TaskID)
	s := env.Task(d.TaskID).Step("a")
	if handlerRuns.Load() != 1 || !strings.Contains(string(s.LastError), want) || !strings.Contains(string(s.LastError), `"kind":"permanent"`) {
		t.Errorf("DAG handler ran %d times, last error %s; want once, failed for good saying %q", handlerRuns.Load(), s.LastError, want)
	}
}
