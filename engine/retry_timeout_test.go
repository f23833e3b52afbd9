package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A task that failed its WithWorkflowTimeout cannot be retried: its
// deadline has passed for good and no step starts after it, so the retried
// step would fail again at its claim without running. Retry refuses it
// (ErrRefused naming the deadline) and changes nothing; it moved the task
// to pending and said it had been retried.
func TestRetryRefusesATaskPastItsWorkflowTimeout(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	h, out := timedOut(t, env)
	if !errors.Is(out.Err(), engine.ErrWorkflowTimeout) {
		t.Fatalf("task %s: %v, want a workflow timeout", out.State, out.Err())
	}
	before, err := env.Store.History(ctx, h.TaskID)
	must(t, err)
	err = env.Retry(ctx, h.TaskID)
	if !errors.Is(err, engine.ErrRefused) || !strings.Contains(err.Error(), "WithWorkflowTimeout") || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("Retry of a task past its workflow timeout: %v, want ErrRefused naming the deadline", err)
	}
	after, err := env.Store.History(ctx, h.TaskID)
	must(t, err)
	if d := env.Task(h.TaskID); d.Task.State != store.TaskError || d.Step("only").State != store.StepError ||
		len(after.Task) != len(before.Task) || len(after.Steps) != len(before.Steps) {
		t.Fatalf("refused retry left task %s, step %s, %d transitions (was %d)", d.Task.State, d.Step("only").State, len(after.Task)+len(after.Steps), len(before.Task)+len(before.Steps))
	}
}

// Explain of a task that failed its workflow timeout does not say an
// operator's retry will run it again, which Retry refuses: it says the
// deadline passed, for the failed step and the steps that wait on it.
func TestExplainOfATaskPastItsWorkflowTimeout(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("slow", func(*engine.StepContext) (any, error) {
		return nil, engine.Retryable(errors.New("not yet"), 2*time.Hour)
	}))
	must(t, env.HandleFunc("after", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "late", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "slow", RetryLimit: 10}, {Name: "b", Handler: "after", DependsOn: []string{"a"}}}}))
	h, err := env.Start(ctx, "t/late", nil, engine.WithWorkflowTimeout(time.Hour))
	must(t, err)
	env.RunUntilDone(h.TaskID)
	for _, step := range []string{"a", "b"} {
		s := explainStep(t, env.Engine, h.TaskID, step)
		if strings.Contains(s.Reason, "retries") || !strings.Contains(s.Reason, "WithWorkflowTimeout") {
			t.Errorf("step %s explained as %q: a retry is refused, the deadline passed", step, s.Reason)
		}
	}
}
