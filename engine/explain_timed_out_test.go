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

// Explain of a task that failed its WithWorkflowTimeout names what closes
// it, as Retry's refusal does: for a code-first workflow a Resolve of its
// DriverStep, for a DAG task a Resolve of its unfinished steps. It said
// only that Retry cannot undo the failure, leaving the operator no way out.
func TestExplainOfATimedOutTaskNamesWhatClosesIt(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/slow", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		if err := engine.Sleep(wctx, 2*time.Hour); err != nil {
			return 0, err
		}
		return 1, nil
	}))
	must(t, env.HandleFunc("wait", func(sc *engine.StepContext) (any, error) {
		return nil, engine.Retryable(context.DeadlineExceeded, 2*time.Hour) // (its retry comes after the deadline)
	}))
	must(t, env.HandleFunc("then", func(*engine.StepContext) (any, error) { return "done", nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "wait", RetryLimit: 5}, {Name: "b", Handler: "then", DependsOn: []string{"a"}}}}))
	code, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/slow", 1, engine.WithWorkflowTimeout(time.Hour))
	must(t, err)
	dag, err := env.Start(ctx, "t/dag", nil, engine.WithWorkflowTimeout(time.Hour))
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(90 * time.Minute)
	if _, err := env.Rescue(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		id   int64
		want string
	}{
		{"code-first", code.TaskID, "Resolve with DriverStep"},
		{"DAG", dag.TaskID, "Resolve its unfinished steps"},
	} {
		if st := env.Task(c.id).Task.State; st != store.TaskError {
			t.Fatalf("%s task %s; want error past its deadline", c.what, st)
		}
		ex, err := env.Explain(ctx, c.id)
		must(t, err)
		if len(ex.Steps) == 0 {
			t.Fatalf("%s: Explain has no step: %+v", c.what, ex)
		}
		for _, s := range ex.Steps {
			if !strings.Contains(s.Reason, "WithWorkflowTimeout") || !strings.Contains(s.Reason, c.want) {
				t.Errorf("%s step %s (%s): %q; want it to name what closes the task (%q)", c.what, s.Step, s.Kind, s.Reason, c.want)
			}
		}
	}
}
