package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A Retry-After past retry.MaxRequested (a bad header: 90 days) is bounded
// there on a step calling a dependent system too: its retry, and the pause
// it puts on the system for other steps, end within 24 h.
func TestRetryAfterOnADependentSystemIsBoundedByMaxRequested(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	start := env.Clock.Now()
	paymentsFlow(t, env.Engine, func(sc *engine.StepContext) (any, error) {
		var in struct{ N int }
		_ = sc.Input(&in)
		if in.N == 1 && sc.Attempt == 1 {
			return nil, engine.Retryable(errors.New("429 Too Many Requests"), 90*24*time.Hour)
		}
		return "paid", nil
	})
	ctx := context.Background()
	a, err := env.Start(ctx, "shop/pay", map[string]int{"N": 1})
	must(t, err)
	if n, err := env.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("first attempt: %d, %v", n, err)
	}
	if due := env.Task(a.TaskID).Steps[0].NextAttemptAt.Sub(start); due > retry.MaxRequested {
		t.Fatalf("the retry is due %s after the 429, past retry.MaxRequested (%s)", due, retry.MaxRequested)
	}
	b, err := env.Start(ctx, "shop/pay", map[string]int{"N": 2})
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if due := env.Task(b.TaskID).Steps[0].NextAttemptAt.Sub(start); due > retry.MaxRequested {
		t.Fatalf("another step of the system is held %s, past retry.MaxRequested (%s)", due, retry.MaxRequested)
	}
	env.Clock.Advance(retry.MaxRequested)
	env.RunUntilDone(a.TaskID, b.TaskID)
	for _, id := range []int64{a.TaskID, b.TaskID} {
		if d := env.Task(id); d.Task.State != store.TaskComplete {
			t.Fatalf("task %d %s", id, d.Task.State)
		}
	}
}
