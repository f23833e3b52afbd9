package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// Result of a dependency that recorded no result says so without claiming
// it was skipped: a step whose handler returned nil was not, and one
// resolved by hand without results neither.
func TestResultOfADependencyWithoutOne(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("none", func(*engine.StepContext) (any, error) { return nil, nil }))
	var got error
	must(t, env.HandleFunc("after", func(sc *engine.StepContext) (any, error) {
		_, got = engine.Result[string](sc, "none")
		return "ran", nil
	}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "none", Steps: []engine.StepTemplate{
		{Name: "none", Handler: "none"},
		{Name: "after", Handler: "after", DependsOn: []string{"none"}},
	}}))
	h, err := env.Start(ctx, "t/none", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	var pe *engine.PermanentError
	if got == nil || !errors.As(got, &pe) || !strings.Contains(got.Error(), `dependency "none" has no result`) || !strings.Contains(got.Error(), "returned nil") {
		t.Fatalf("Result of a dependency whose handler returned nil: %v, want a permanent error saying it has no result, which a handler returning nil leaves (not only a skip)", got)
	}
}

// Outcome.Decode of a step that finished without a result says so, and
// that a skip leaves none: it said "has no result" as of a step the task
// does not have, which is told apart now (a misspelt name).
func TestDecodeOfAStepWithoutAResult(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("skip", func(*engine.StepContext) (any, error) { return nil, engine.Skip("nothing to do") }))
	must(t, env.HandleFunc("ok", func(*engine.StepContext) (any, error) { return "ran", nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "skip", Steps: []engine.StepTemplate{
		{Name: "maybe", Handler: "skip", Skippable: true},
		{Name: "after", Handler: "ok", DependsOn: []string{"maybe"}},
	}}))
	h, err := env.Start(ctx, "t/skip", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	out, err := h.Wait(ctx)
	must(t, err)
	var s string
	err = out.Decode("maybe", &s)
	if err == nil || !strings.Contains(err.Error(), `step "maybe" finished without a result`) || !strings.Contains(err.Error(), "skipped") {
		t.Errorf("Decode of the skipped step: %v, want an error saying it finished without a result, as a skip leaves it", err)
	}
	err = out.Decode("mabye", &s)
	if err == nil || !strings.Contains(err.Error(), `has no step "mabye"`) || !strings.Contains(err.Error(), "after, maybe") {
		t.Errorf("Decode of a step the task does not have: %v, want an error saying so and naming its steps", err)
	}
	must(t, out.Decode("after", &s))
	// A result that does not decode into v names the step and the task:
	// json's own error named neither, so a caller decoding several steps
	// could not tell which one failed.
	var n int
	err = out.Decode("after", &n)
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), `result of step "after"`) || !strings.Contains(err.Error(), fmt.Sprintf("task %d", h.TaskID)) {
		t.Errorf("Decode of a string result into an int: %v, want json's error naming the step and the task", err)
	}
	if err := out.Decode("after", nil); err == nil || !strings.Contains(err.Error(), `result of step "after"`) {
		t.Errorf("Decode into nil: %v, want an error naming the step", err)
	}
}
