package testkit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

type order struct {
	ID    int `json:"id"`
	Items int `json:"items"`
}

type quote struct {
	Amount int `json:"amount"`
}

type receipt struct {
	Charge string `json:"charge"`
	Amount int    `json:"amount"`
	Key    string `json:"key"`
}

// chargeWithQuote reads the task input, a dependency's result and its config, and
// uses the idempotency key: what a real step does.
var chargeWithQuote = engine.HandlerFunc(func(sc *engine.StepContext) (any, error) {
	var in order
	if err := sc.Input(&in); err != nil {
		return nil, err
	}
	q, err := engine.Result[quote](sc, "quote")
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Prefix string `json:"prefix"`
	}
	if err := sc.Config(&cfg); err != nil {
		return nil, err
	}
	if in.Items == 0 {
		panic("an order without items")
	}
	sc.Logger.Info("charging")
	return receipt{Charge: fmt.Sprintf("%s%d", cfg.Prefix, in.ID), Amount: q.Amount * in.Items, Key: sc.IdempotencyKey}, nil
})

func TestRunStepGivesTheHandlerItsInputs(t *testing.T) {
	got, err := testkit.RunStepAs[receipt](t, chargeWithQuote, order{ID: 7, Items: 3}, map[string]any{"quote": quote{Amount: 5}},
		&testkit.StepOptions{Config: map[string]string{"prefix": "ch_"}, TaskID: 42, Step: "charge"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (receipt{Charge: "ch_7", Amount: 15, Key: "42:charge"}); got != want {
		t.Fatalf("result %+v, want %+v", got, want)
	}
}

func TestRunStepContext(t *testing.T) {
	var sc *engine.StepContext
	h := engine.HandlerFunc(func(c *engine.StepContext) (any, error) {
		sc = c
		return map[string]int{"n": 1}, nil
	})
	res, err := testkit.RunStep(t, h, json.RawMessage(`{"a":1}`), map[string]any{"b": 2, "a": json.RawMessage(`"x"`), "none": nil},
		&testkit.StepOptions{Workflow: "shop/order", Step: "ship", Attempt: 3, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if sc != res.Context || sc.Workflow != "shop/order" || sc.Step != "ship" || sc.Handler != "ship" || sc.Attempt != 3 || sc.IdempotencyKey != "1:ship" || sc.Logger == nil {
		t.Fatalf("step context %+v", sc)
	}
	if deps := sc.Dependencies(); !slices.Equal(deps, []string{"a", "b", "none"}) {
		t.Fatalf("Dependencies() = %q", deps)
	}
	if raw, ok := sc.RawResult("a"); !ok || string(raw) != `"x"` {
		t.Fatalf(`RawResult("a") = %s, %v`, raw, ok)
	}
	if raw, ok := sc.RawResult("none"); ok || raw != nil {
		t.Fatalf(`RawResult("none") = %s, %v: a dependency without a result (skipped) has none`, raw, ok)
	}
	if dl, ok := sc.Deadline(); !ok || time.Until(dl) > time.Minute {
		t.Fatalf("deadline %v, %v: want one within a minute", dl, ok)
	}
	if string(res.JSON) != `{"n":1}` {
		t.Fatalf("JSON %s", res.JSON)
	}
	var m map[string]int
	if err := res.Decode(&m); err != nil || m["n"] != 1 {
		t.Fatalf("Decode: %v, %v", m, err)
	}
	// As in the engine, the attempt's context ends with the attempt.
	if !errors.Is(sc.Err(), context.Canceled) {
		t.Fatalf("after RunStep the step's context err = %v, want it cancelled", sc.Err())
	}
}

// TestRunStepSkippable: a handler that skips only when its step may be
// skipped is tested both ways.
func TestRunStepSkippable(t *testing.T) {
	h := engine.HandlerFunc(func(sc *engine.StepContext) (any, error) {
		if sc.Skippable() {
			return nil, engine.Skip("nothing to do")
		}
		return "done", nil
	})
	_, err := testkit.RunStep(t, h, nil, nil, &testkit.StepOptions{Skippable: true})
	var skip *engine.SkipError
	if !errors.As(err, &skip) || skip.Reason != "nothing to do" {
		t.Fatalf("skippable step: %v; want engine.Skip", err)
	}
	res, err := testkit.RunStep(t, h, nil, nil, nil)
	if err != nil || string(res.JSON) != `"done"` {
		t.Fatalf("step not skippable: %v, %v; want \"done\"", res, err)
	}
	// A step that skips without being skippable fails for good in the
	// engine; RunStep returned the engine.Skip, and a test expecting it
	// passed.
	always := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return nil, engine.Skip("nothing to do") })
	_, err = testkit.RunStep(t, always, nil, nil, nil)
	var permanent *engine.PermanentError
	if errors.As(err, &skip) || !errors.As(err, &permanent) || !strings.Contains(err.Error(), "not skippable") {
		t.Fatalf("engine.Skip from a step not skippable: %v; want the engine's permanent error", err)
	}
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("always", always.Handle))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "skip", Steps: []engine.StepTemplate{{Name: "step", Handler: "always"}}}))
	task, err := env.Start(context.Background(), "t/skip", nil)
	must(t, err)
	env.RunUntilDone(task.TaskID)
	if d := env.Task(task.TaskID); d.Task.State != "error" || !strings.Contains(string(d.Steps[0].LastError), "returned engine.Skip (nothing to do) but is not skippable") {
		t.Fatalf("in the engine: task %s, step error %s; want it failed as RunStep said: %v", d.Task.State, d.Steps[0].LastError, err)
	}
}

func TestRunStepWithoutDeadline(t *testing.T) {
	res, err := testkit.RunStep(t, engine.HandlerFunc(func(sc *engine.StepContext) (any, error) {
		_, ok := sc.Deadline()
		return ok, nil
	}), nil, nil, &testkit.StepOptions{Context: context.Background()})
	if err != nil || string(res.JSON) != "false" {
		t.Fatalf("had a deadline: %s, %v", res.JSON, err)
	}
}

func TestRunStepPanicIsAnError(t *testing.T) {
	res, err := testkit.RunStep(t, chargeWithQuote, order{ID: 1}, map[string]any{"quote": quote{Amount: 5}}, nil)
	var pe *engine.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want an *engine.PanicError", err)
	}
	if pe.Value != "an order without items" || !strings.Contains(pe.Stack, "step_test.go") {
		t.Fatalf("panic %v with stack %q", pe.Value, pe.Stack)
	}
	if res == nil || res.JSON != nil {
		t.Fatalf("result %+v, want none recorded", res)
	}
}

func TestRunStepErrors(t *testing.T) {
	// A missing dependency is the permanent error engine.Result returns.
	_, err := testkit.RunStepAs[receipt](t, chargeWithQuote, order{ID: 1, Items: 1}, nil, nil)
	var perm *engine.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), `no dependency named "quote"`) {
		t.Fatalf("err = %v, want a permanent error about the missing dependency", err)
	}
	// A returned error comes back as it is.
	flaky := errors.New("flaky")
	_, err = testkit.RunStep(t, testkit.FailOnAttempts(chargeWithQuote, flaky, 1), order{}, nil, nil)
	if !errors.Is(err, flaky) {
		t.Fatalf("err = %v, want %v", err, flaky)
	}
	// A result the engine could not record fails permanently.
	res, err := testkit.RunStep(t, engine.HandlerFunc(func(*engine.StepContext) (any, error) { return func() {}, nil }), nil, nil, nil)
	if !errors.As(err, &perm) || res.Value == nil {
		t.Fatalf("err = %v, value %v: want a permanent encoding error and the value", err, res.Value)
	}
	// A result holding a NUL character, which the store refuses, fails
	// permanently as in the engine (it was returned as recorded).
	res, err = testkit.RunStep(t, engine.HandlerFunc(func(*engine.StepContext) (any, error) { return "bad\x00", nil }), nil, nil, nil)
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "encoding result of step step: it contains a NUL character") || res.JSON != nil {
		t.Fatalf("err = %v, JSON %s: want the engine's permanent error and nothing recorded", err, res.JSON)
	}
	// A result that does not decode as T.
	_, err = testkit.RunStepAs[int](t, engine.HandlerFunc(func(*engine.StepContext) (any, error) { return "x", nil }), nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "as int") {
		t.Fatalf("err = %v, want a decoding error", err)
	}
}

// A handler that returns no result (nil, or a nil pointer: both recorded
// as null) gives a dependant nothing to decode: engine.Result fails with
// "has no result". RunStepAs and StepResult.Decode, which decode "as a
// dependant's engine.Result would", say so too. Before, they decoded null
// into a zero T and returned no error: the test passed on a result the
// workflow's next step fails on.
func TestRunStepAsRefusesNoResult(t *testing.T) {
	for name, v := range map[string]any{"nil": nil, "nil pointer": (*receipt)(nil)} {
		h := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return v, nil })
		got, err := testkit.RunStepAs[receipt](t, h, nil, nil, &testkit.StepOptions{Step: "charge"})
		want := "step charge returned no result (nil, recorded as null): a dependant's engine.Result fails on it"
		if err == nil || err.Error() != want {
			t.Errorf("%s: RunStepAs = %+v, %v; want the error %q", name, got, err, want)
		}
		res, err := testkit.RunStep(t, h, nil, nil, &testkit.StepOptions{Step: "charge"})
		if err != nil || string(res.JSON) != "null" {
			t.Fatalf("%s: RunStep = %s, %v; want null recorded", name, res.JSON, err)
		}
		if err := res.Decode(new(receipt)); err == nil || err.Error() != want {
			t.Errorf("%s: Decode: %v; want %q", name, err, want)
		}
	}
	// What a dependant reads as the step's result is what RunStepAs
	// decoded.
	_, err := testkit.RunStep(t, engine.HandlerFunc(func(sc *engine.StepContext) (any, error) {
		return engine.Result[receipt](sc, "charge")
	}), nil, map[string]any{"charge": nil}, nil)
	if err == nil || !strings.Contains(err.Error(), `dependency "charge" has no result`) {
		t.Fatalf("engine.Result of a null result: %v", err)
	}
}

type declined struct{ code string }

func (d *declined) Error() string { return "declined: " + d.code }

type badJSON struct{}

func (badJSON) MarshalJSON() ([]byte, error) { panic("no JSON for this") }

// RunStep returns what the engine would make of two handler mistakes, a
// permanent error naming each: a typed nil error (a *declined(nil)
// returned as error: not nil, and its Error method dereferences it) and a
// result whose MarshalJSON panics. Before, RunStep returned the typed nil
// as the error (printing it panicked in the test) and let the panic out
// of RunStep, failing the test binary; the engine fails the step.
func TestRunStepHandlesMistakesAsTheEngineDoes(t *testing.T) {
	typedNil := engine.HandlerFunc(func(*engine.StepContext) (any, error) {
		var d *declined // the function's own error type, nil
		return 1, d
	})
	var perm *engine.PermanentError
	_, err := testkit.RunStep(t, typedNil, nil, nil, nil)
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "returned a nil *testkit_test.declined as its error") {
		t.Fatalf("typed nil error: %#v, want the engine's permanent error", err)
	}
	var res *testkit.StepResult
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("RunStep panicked: %v", r)
			}
		}()
		res, err = testkit.RunStep(t, engine.HandlerFunc(func(*engine.StepContext) (any, error) { return badJSON{}, nil }), nil, nil, nil)
	}()
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "encoding result of step step: its MarshalJSON panicked: no JSON for this") || res.JSON != nil {
		t.Fatalf("panicking MarshalJSON: %v, want the engine's permanent error", err)
	}
}
