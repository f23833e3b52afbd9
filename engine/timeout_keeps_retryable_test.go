package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// timedOutRetryable is what a handler that waited out its attempt's
// timeout returns: its own RetryableError, capped at one retry and with a
// context to record.
func timedOutRetryable(ctx context.Context) error {
	<-ctx.Done() // the attempt's timeout cancels it
	return &engine.RetryableError{Err: ctx.Err(), MaxRetries: 1, Context: map[string]any{"endpoint": "/charge"}}
}

// An attempt past its own timeout whose handler returned a RetryableError
// keeps that error's settings (MaxRetries, Context): the timeout wrapped it
// in a fresh RetryableError, found first by classification, so the cap was
// ignored (the step retried to its own limit) and the context was lost.
func TestTimedOutAttemptKeepsTheHandlersRetryableSettings(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	attempts := 0
	must(t, env.HandleFunc("h", func(sc *engine.StepContext) (any, error) {
		attempts++
		return nil, timedOutRetryable(sc)
	}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "slow", Steps: []engine.StepTemplate{
		{Name: "call", Handler: "h", Timeout: 5 * time.Millisecond, RetryLimit: 5, Backoff: retryFast}}}))
	h, err := env.Start(context.Background(), "t/slow", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	f := lastFailure(t, env, h.TaskID)
	if attempts != 2 || f.Kind != engine.KindExhausted || f.Context["endpoint"] != "/charge" {
		t.Fatalf("%d attempts, failure kind %s, context %v; want 2 (MaxRetries 1), retries_exhausted, the handler's context", attempts, f.Kind, f.Context)
	}
}

// The same for a durable step past its WithStepTimeout.
func TestTimedOutDurableStepKeepsTheHandlersRetryableSettings(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	attempts := 0
	must(t, engine.RegisterWorkflow(env.Engine, "d/slow", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.Step(wctx, "call", func(ctx context.Context) (int, error) {
			attempts++
			return 0, timedOutRetryable(ctx)
		}, engine.WithStepTimeout(5*time.Millisecond), engine.WithStepRetryLimit(5), engine.WithStepBackoff(retryFast))
	}))
	w, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "d/slow", 1)
	must(t, err)
	env.RunUntilDone(w.TaskID)
	f := lastFailure(t, env, w.TaskID)
	if attempts != 2 || f.Kind != engine.KindExhausted || f.Context["endpoint"] != "/charge" {
		t.Fatalf("%d attempts, failure kind %s, context %v; want 2 (MaxRetries 1), retries_exhausted, the handler's context", attempts, f.Kind, f.Context)
	}
}
