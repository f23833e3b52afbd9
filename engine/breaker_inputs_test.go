package engine_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/testkit"
)

// thenPaymentsStillRuns wants the next step calling payments to run at
// once: the breaker did not open.
func thenPaymentsStillRuns(t *testing.T, env *testkit.Env, calls *atomic.Int32, after string) {
	t.Helper()
	nextPaymentRuns(t, env, calls, "after "+after+", the next step calling payments", "the breaker counted it as a failure of payments")
}

// A handler's panic is a bug of the binary, not a failure of the system
// the step calls: the system's breaker (opening on one failure here) stays
// closed for every other step calling it.
func TestHandlerPanicDoesNotOpenTheBreaker(t *testing.T) {
	env, calls := probeEnv(t, func(*engine.StepContext) (any, error) { panic("nil map") })
	h, err := env.Start(context.Background(), "shop/pay", map[string]int{"N": 2})
	must(t, err)
	if _, err := env.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := env.Task(h.TaskID); calls.Load() != 1 || !strings.Contains(string(d.Steps[0].LastError), "handler panicked") {
		t.Fatalf("the panicking step: ran %d times, error %s; want one panic recorded", calls.Load(), d.Steps[0].LastError)
	}
	thenPaymentsStillRuns(t, env, calls, "a handler's panic")
}

// … and a half-open breaker's probe taken by an attempt that panicked is
// given back, as a permanent error's is: the next step probes.
func TestPanickedProbeIsGivenBack(t *testing.T) {
	env, calls := probeEnv(t, func(*engine.StepContext) (any, error) { panic("nil map") })
	openThenHalfOpen(t, env)
	h, err := env.Start(context.Background(), "shop/pay", map[string]int{"N": 2})
	must(t, err)
	if _, err := env.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || env.Task(h.TaskID).Task.State != store.TaskInProgress {
		t.Fatalf("the probe's step: ran %d times, task %s; want one panic, to be retried", calls.Load(), env.Task(h.TaskID).Task.State)
	}
	thenTheNextStepProbes(t, env, calls, "in a panic")
}

// A durable step's panic does not open the breaker either.
func TestDurableStepPanicDoesNotOpenTheBreaker(t *testing.T) {
	env, calls := probeEnv(t, nil)
	var durable atomic.Int32
	must(t, engine.RegisterWorkflow(env.Engine, "shop/refund", func(wctx *engine.WorkflowContext, in struct{}) (string, error) {
		return engine.Step(wctx, "refund", func(context.Context) (string, error) {
			durable.Add(1)
			panic("nil map")
		}, engine.WithStepDependentSystem("payments"), engine.WithStepNoRetry())
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, string](ctx, env.Engine, "shop/refund", struct{}{})
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if durable.Load() != 1 || env.Task(h.TaskID).Task.State != store.TaskError {
		t.Fatalf("the durable step: ran %d times, task %s; want one panic, failing the workflow", durable.Load(), env.Task(h.TaskID).Task.State)
	}
	thenPaymentsStillRuns(t, env, calls, "a durable step's panic")
}

// claimsAnyHandler is a store whose claims ignore the handlers the worker
// serves: it hands this worker a step whose handler it lacks, as a worker
// deployed without one would meet it.
type claimsAnyHandler struct{ store.Store }

func (s claimsAnyHandler) ClaimSteps(ctx context.Context, p *store.ClaimStepsParams) ([]*store.ClaimedStep, error) {
	q := *p
	q.Handlers = nil
	return s.Store.ClaimSteps(ctx, &q)
}

// A step run by a worker that has no handler for it says nothing of the
// system the step calls: the breaker stays closed for the steps other
// workers (and this one) run.
func TestMissingHandlerDoesNotOpenTheBreaker(t *testing.T) {
	ctx := context.Background()
	inner, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"), nil)
	must(t, err)
	t.Cleanup(func() { inner.Close() })
	e := newEngine(t, engine.Config{Store: claimsAnyHandler{inner}, Breaker: cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Hour}})
	t.Cleanup(func() { _ = e.Close() })
	var paid atomic.Int32
	must(t, e.HandleFunc("pay", func(*engine.StepContext) (any, error) { paid.Add(1); return "paid", nil }))
	later := retry.Policy{Base: time.Hour, Max: time.Hour} // (the failed step is not claimed again here)
	must(t, e.Register(&engine.Template{Namespace: "shop", Name: "ghost", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "ghost.charge", DependentSystem: "payments", Backoff: later, RetryLimit: 5}}}))
	must(t, e.Register(&engine.Template{Namespace: "shop", Name: "pay", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "pay", DependentSystem: "payments"}}}))
	ghost, err := e.Start(ctx, "shop/ghost", nil)
	must(t, err)
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	gd, err := inner.GetTask(ctx, ghost.TaskID)
	must(t, err)
	if len(gd.Steps) != 1 || !strings.Contains(string(gd.Steps[0].LastError), "no handler") {
		t.Fatalf("the step without a handler: error %s; want its attempt failed for want of a handler", gd.Steps[0].LastError)
	}
	h, err := e.Start(ctx, "shop/pay", nil)
	must(t, err)
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := inner.GetTask(ctx, h.TaskID)
	must(t, err)
	if paid.Load() != 1 || d.Task.State != store.TaskComplete {
		t.Fatalf("after a step no handler here serves, the next step calling payments: handler ran %d times (want 1), task %s; the breaker counted it as a failure of payments",
			paid.Load(), d.Task.State)
	}
}
