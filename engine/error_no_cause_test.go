package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// noCauseErrors are the failures a handler may return without a cause,
// and what their recorded message must name.
var noCauseErrors = []struct {
	name string
	err  error
	want string
}{
	{"Permanent(nil)", engine.Permanent(nil), "Permanent(nil)"},
	{"PermanentError{}", &engine.PermanentError{Code: "E42"}, "E42: "},
	{"Retryable(nil)", engine.Retryable(nil, 0), "Retryable(nil"},
}

// A failure without a cause (Permanent(nil), Retryable(nil, d), a
// PermanentError with no Err) still fails the step, and its recorded
// message says no cause was given and names the constructor: it said only
// "permanent error" or "retryable error", leaving nothing to look for.
func TestFailureWithoutACauseSaysSo(t *testing.T) {
	for _, c := range noCauseErrors {
		t.Run(c.name, func(t *testing.T) {
			env := testkit.NewEngine(t, nil)
			must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, c.err }))
			must(t, env.Register(&engine.Template{Namespace: "t", Name: "nocause", Steps: []engine.StepTemplate{
				{Name: "call", Handler: "h", NotRetryable: true}}}))
			h, err := env.Start(context.Background(), "t/nocause", nil)
			must(t, err)
			env.RunUntilDone(h.TaskID)
			checkNoCause(t, lastFailure(t, env, h.TaskID).Message, c.want)
		})
	}
}

// The same for a durable step's function.
func TestDurableFailureWithoutACauseSaysSo(t *testing.T) {
	for _, c := range noCauseErrors {
		t.Run(c.name, func(t *testing.T) {
			env := testkit.NewEngine(t, nil)
			must(t, engine.RegisterWorkflow(env.Engine, "d/nocause", func(wctx *engine.WorkflowContext, in int) (int, error) {
				return engine.Step(wctx, "call", func(context.Context) (int, error) { return 0, c.err }, engine.WithStepNoRetry())
			}))
			w, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "d/nocause", 1)
			must(t, err)
			env.RunUntilDone(w.TaskID)
			checkNoCause(t, lastFailure(t, env, w.TaskID).Message, c.want)
		})
	}
}

func checkNoCause(t *testing.T, msg, want string) {
	t.Helper()
	if !strings.Contains(msg, "no cause") || !strings.Contains(msg, want) {
		t.Fatalf("recorded failure %q; want it to say no cause was given, naming %q", msg, want)
	}
}
