package engine_test

import (
	"context"
	"errors"
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
