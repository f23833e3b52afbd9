package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// probeEnv is an engine whose "payments" breaker opens on one failure for
// 10 s, and a "charge" step calling it that runs end(sc) for the task
// whose input is N 2 (the half-open breaker's probe) and succeeds for the
// others.
func probeEnv(t *testing.T, end func(sc *engine.StepContext) (any, error)) (*testkit.Env, *atomic.Int32) {
	t.Helper()
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Breaker: cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: 10 * time.Second}}})
	var calls atomic.Int32
	must(t, env.HandleFunc("pay", func(sc *engine.StepContext) (any, error) {
		calls.Add(1)
		var in struct{ N int }
		if err := sc.Input(&in); err != nil {
			return nil, err
		}
		if in.N == 2 {
			return end(sc)
		}
		return "paid", nil
	}))
	must(t, env.Register(&engine.Template{Namespace: "shop", Name: "pay", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "pay", DependentSystem: "payments", Backoff: retryFast, RetryLimit: 5, Skippable: true},
	}}))
	return env, &calls
}

// openThenHalfOpen opens the breaker with a failure it counts (a 503 of
// another step calling the system) and lets OpenFor pass.
func openThenHalfOpen(t *testing.T, env *testkit.Env) {
	t.Helper()
	openBreaker(t, env)
	env.Clock.Advance(10 * time.Second) // half-open: one probe
}

// openBreaker opens the breaker for 10 s.
func openBreaker(t *testing.T, env *testkit.Env) {
	t.Helper()
	ctx := context.Background()
	must(t, env.HandleFunc("down", func(*engine.StepContext) (any, error) { return nil, errors.New("503 Service Unavailable") }))
	must(t, env.Register(&engine.Template{Namespace: "shop", Name: "down", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "down", DependentSystem: "payments", NotRetryable: true},
	}}))
	if _, err := env.Start(ctx, "shop/down", nil); err != nil {
		t.Fatal(err)
	}
	if n, err := env.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("the opening attempt: %d, %v", n, err)
	}
}

// thenTheNextStepProbes wants the next step calling payments to run at
// once: the probe the attempt before took was given back.
func thenTheNextStepProbes(t *testing.T, env *testkit.Env, calls *atomic.Int32, how string) {
	t.Helper()
	nextPaymentRuns(t, env, calls, fmt.Sprintf("after a probe that ended %s, the next step", how), "the breaker kept the probe for OpenFor, nobody probing")
}

// nextPaymentRuns starts a "shop/pay" task (N 3, which succeeds) and wants
// its step run at once, or fails saying what and why.
func nextPaymentRuns(t *testing.T, env *testkit.Env, calls *atomic.Int32, what, why string) {
	t.Helper()
	ctx := context.Background()
	before := calls.Load()
	h, err := env.Start(ctx, "shop/pay", map[string]int{"N": 3})
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if d := env.Task(h.TaskID); calls.Load() != before+1 || d.Task.State != store.TaskComplete {
		t.Fatalf("%s: handler ran %d times (want 1), task %s; %s", what, calls.Load()-before, d.Task.State, why)
	}
}

// A half-open breaker's probe taken by an attempt that ends in Skip is
// given back: the next step probes.
func TestSkippedProbeIsGivenBack(t *testing.T) {
	env, calls := probeEnv(t, func(*engine.StepContext) (any, error) { return nil, engine.Skip("nothing to charge") })
	openThenHalfOpen(t, env)
	h, err := env.Start(context.Background(), "shop/pay", map[string]int{"N": 2})
	must(t, err)
	if _, err := env.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || env.Task(h.TaskID).Task.State != store.TaskComplete {
		t.Fatalf("the probe's step: ran %d times, task %s; want skipped once", calls.Load(), env.Task(h.TaskID).Task.State)
	}
	thenTheNextStepProbes(t, env, calls, "in Skip")
}

// … and by one that ends in a permanent error (a bad request says nothing
// of the system, so the breaker counts neither a success nor a failure).
func TestPermanentlyFailedProbeIsGivenBack(t *testing.T) {
	env, calls := probeEnv(t, func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("400 Bad Request")) })
	openThenHalfOpen(t, env)
	h, err := env.Start(context.Background(), "shop/pay", map[string]int{"N": 2})
	must(t, err)
	if _, err := env.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || env.Task(h.TaskID).Task.State != store.TaskError {
		t.Fatalf("the probe's step: ran %d times, task %s; want failed once", calls.Load(), env.Task(h.TaskID).Task.State)
	}
	thenTheNextStepProbes(t, env, calls, "in a permanent error")
}

// … and by one abandoned because its task was cancelled while it ran.
func TestAbandonedProbeIsGivenBack(t *testing.T) {
	running := make(chan struct{})
	env, calls := probeEnv(t, func(sc *engine.StepContext) (any, error) {
		close(running)
		<-sc.Done()
		return nil, sc.Err()
	})
	openThenHalfOpen(t, env)
	ctx := context.Background()
	h, err := env.Start(ctx, "shop/pay", map[string]int{"N": 2})
	must(t, err)
	cancelled := make(chan error, 1)
	go func() {
		<-running
		cancelled <- env.Cancel(ctx, h.TaskID, "changed my mind")
	}()
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, <-cancelled)
	if calls.Load() != 1 || env.Task(h.TaskID).Task.State != store.TaskCancelled {
		t.Fatalf("the probe's step: ran %d times, task %s; want cancelled while running", calls.Load(), env.Task(h.TaskID).Task.State)
	}
	thenTheNextStepProbes(t, env, calls, "abandoned")
}

// … and by one claimed after its task's deadline, which fails before the
// handler runs.
func TestProbePastItsDeadlineIsGivenBack(t *testing.T) {
	env, calls := probeEnv(t, func(*engine.StepContext) (any, error) { return "paid", nil })
	ctx := context.Background()
	openBreaker(t, env)
	h, err := env.Start(ctx, "shop/pay", map[string]int{"N": 2}, engine.WithWorkflowTimeout(5*time.Second))
	must(t, err)
	env.Clock.Advance(10 * time.Second) // half-open, and the task past its deadline
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 0 || env.Task(h.TaskID).Task.State != store.TaskError {
		t.Fatalf("the step past its deadline: ran %d times, task %s; want failed unrun", calls.Load(), env.Task(h.TaskID).Task.State)
	}
	thenTheNextStepProbes(t, env, calls, "past its task's deadline")
}

// A durable step's probe that ends in a permanent error is given back too.
func TestDurableStepPermanentlyFailedProbeIsGivenBack(t *testing.T) {
	env, calls := probeEnv(t, nil)
	var durable atomic.Int32
	must(t, engine.RegisterWorkflow(env.Engine, "shop/refund", func(wctx *engine.WorkflowContext, in struct{}) (string, error) {
		return engine.Step(wctx, "refund", func(context.Context) (string, error) {
			durable.Add(1)
			return "", engine.Permanent(errors.New("400 Bad Request"))
		}, engine.WithStepDependentSystem("payments"))
	}))
	openThenHalfOpen(t, env)
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, string](ctx, env.Engine, "shop/refund", struct{}{})
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if durable.Load() != 1 || env.Task(h.TaskID).Task.State != store.TaskError {
		t.Fatalf("the durable probe: ran %d times, task %s; want failed once", durable.Load(), env.Task(h.TaskID).Task.State)
	}
	thenTheNextStepProbes(t, env, calls, "in a durable step's permanent error")
}
