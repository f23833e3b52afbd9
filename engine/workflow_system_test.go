package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A durable step naming its system (WithStepDependentSystem) shares the
// system's pause with DAG steps naming it, both ways: its 429 holds a DAG
// step back, and a DAG step's 429 holds it back — its workflow suspends
// until the pause ends, no attempt used, and Explain says why. (The option
// was missing: a durable step shared no back-off.)
func TestDurableStepSharesItsSystemsPause(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	var mu sync.Mutex
	ran := map[int]time.Time{} // by payment, its successful call
	call := func(n, attempt int) error {
		mu.Lock()
		defer mu.Unlock()
		if (n == 1 || n == 3) && attempt == 1 {
			return engine.Retryable(errors.New("429 Too Many Requests"), 30*time.Second)
		}
		ran[n] = env.Clock.Now()
		return nil
	}
	paymentsFlow(t, env.Engine, func(sc *engine.StepContext) (any, error) {
		var in struct{ N int }
		_ = sc.Input(&in)
		return "paid", call(in.N, sc.Attempt)
	})
	must(t, engine.RegisterWorkflow(env.Engine, "shop/renew", func(wctx *engine.WorkflowContext, n int) (string, error) {
		return engine.Step(wctx, "charge", func(ctx context.Context) (string, error) {
			info, _ := engine.StepInfoFrom(ctx)
			return "paid", call(n, info.Attempt)
		}, engine.WithStepDependentSystem("payments"), engine.WithStepBackoff(retryFast))
	}))
	ranAfter := func(n int, pauseEnd time.Time) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if at, ok := ran[n]; !ok || at.Before(pauseEnd) {
			t.Fatalf("payment %d ran at %s (ran: %v), before the pause ended at %s", n, at, ok, pauseEnd)
		}
	}

	// A durable step's 429 holds a DAG step back.
	w1, err := engine.StartWorkflow[int, string](ctx, env.Engine, "shop/renew", 1)
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	pauseEnd := env.Clock.Now().Add(30 * time.Second)
	d2, err := env.Start(ctx, "shop/pay", map[string]int{"N": 2})
	must(t, err)
	env.RunUntilDone(w1.TaskID, d2.TaskID)
	ranAfter(2, pauseEnd)
	if d := env.Task(d2.TaskID); d.Task.State != store.TaskComplete || d.Steps[0].Attempts != 1 {
		t.Fatalf("held DAG step: task %s, attempts %d (want 1: waiting is not an attempt)", d.Task.State, d.Steps[0].Attempts)
	}

	// A DAG step's 429 holds a durable step back.
	d3, err := env.Start(ctx, "shop/pay", map[string]int{"N": 3})
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	pauseEnd = env.Clock.Now().Add(30 * time.Second)
	w4, err := engine.StartWorkflow[int, string](ctx, env.Engine, "shop/renew", 4)
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	s := explainStep(t, env.Engine, w4.TaskID, engine.DriverStep)
	wantKind(t, s, engine.ExplainSystemPaused, "dependent system payments is paused", "durable step charge waits", "no attempt used")
	if s.System != "payments" || s.Durable != "charge" || !s.Until.Equal(pauseEnd) {
		t.Fatalf("hold explained as %+v, want payments for charge until %s", s, pauseEnd)
	}
	env.RunUntilDone(d3.TaskID, w4.TaskID)
	ranAfter(4, pauseEnd)
	if got, err := w4.Result(ctx); err != nil || got != "paid" {
		t.Fatalf("held workflow: %q, %v", got, err)
	}
	if ds := env.DurableSteps(w4.TaskID); len(ds) != 1 || ds[0].Attempts != 1 {
		t.Fatalf("held durable step: %+v, want one row after 1 attempt (waiting is not an attempt)", ds)
	}
}

// A durable step's failures feed its system's circuit breaker: once it
// opens, another workflow's step calling the system is held (not run)
// until the breaker lets a probe through.
func TestDurableStepFailuresOpenTheBreaker(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Breaker: cachex.BreakerConfig{ConsecutiveFailures: 2, OpenFor: time.Minute}}})
	ctx := context.Background()
	var mu sync.Mutex
	var calls []time.Time
	must(t, engine.RegisterWorkflow(env.Engine, "t/fetch", func(wctx *engine.WorkflowContext, down bool) (string, error) {
		return engine.Step(wctx, "fetch", func(context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, env.Clock.Now())
			if down {
				return "", errors.New("503 Service Unavailable")
			}
			return "ok", nil
		}, engine.WithStepDependentSystem("api"), engine.WithStepRetryLimit(2), engine.WithStepBackoff(retry.Policy{Base: time.Second, Max: time.Second, NoJitter: true}))
	}))
	failing, err := engine.StartWorkflow[bool, string](ctx, env.Engine, "t/fetch", true)
	must(t, err)
	env.RunUntilDone(failing.TaskID)
	if _, err := failing.Result(ctx); !errors.Is(err, engine.ErrStepFailed) {
		t.Fatalf("failing workflow: %v, want its step failed", err)
	}
	opened := env.Clock.Now()

	ok, err := engine.StartWorkflow[bool, string](ctx, env.Engine, "t/fetch", false)
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(calls)
	mu.Unlock()
	if n != 2 {
		t.Fatalf("the system was called %d times; the open breaker should have held the second workflow's step", n)
	}
	wantKind(t, explainStep(t, env.Engine, ok.TaskID, engine.DriverStep), engine.ExplainSystemPaused, "dependent system api", "durable step fetch")
	env.RunUntilDone(ok.TaskID)
	if got, err := ok.Result(ctx); err != nil || got != "ok" {
		t.Fatalf("held workflow: %q, %v", got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 3 || calls[2].Before(opened.Add(time.Minute)) {
		t.Fatalf("calls at %v; want the third after the breaker's minute from %s", calls, opened)
	}
}
