package engine_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// Attempts that run out of their step's Timeout count as failures of the
// step's dependent system, as other failures do: the breaker opens and
// holds the next step calling it. The outcome was fed to the breaker with
// the attempt's context, over by then, and the cache refused it: a system
// that only ever timed out never opened its breaker.
func TestTimedOutAttemptsOpenTheBreaker(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Breaker: cachex.BreakerConfig{ConsecutiveFailures: 2, OpenFor: time.Hour}}})
	ctx := context.Background()
	var calls atomic.Int32
	must(t, env.HandleFunc("call", func(sc *engine.StepContext) (any, error) {
		calls.Add(1)
		<-sc.Done() // the system never answers
		return nil, sc.Err()
	}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "slow", Steps: []engine.StepTemplate{
		{Name: "call", Handler: "call", DependentSystem: "slow-api", Timeout: 5 * time.Millisecond, RetryLimit: 2, Backoff: retryFast},
	}}))
	first, err := env.Start(ctx, "t/slow", map[string]int{"n": 1})
	must(t, err)
	env.RunUntilDone(first.TaskID)
	if n := calls.Load(); n != 2 {
		t.Fatalf("the first task's step was called %d times, want 2 (its retry limit)", n)
	}
	second, err := env.Start(ctx, "t/slow", map[string]int{"n": 2})
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("the system was called %d times; two timed-out attempts should have opened its breaker and held task %d's step", n, second.TaskID)
	}
}

// An attempt stopped by its workflow's deadline (WithWorkflowTimeout, on
// the real clock) is told to its dependent system's breaker, and the
// opening is published through the cache for every worker: it was told
// with the attempt's context, over by then, so the cache refused it ("publishing
// a breaker opening failed: … context deadline exceeded") and only this
// process's breaker knew.
func TestAttemptStoppedByItsWorkflowDeadlineFeedsTheBreaker(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) }), &slog.HandlerOptions{Level: slog.LevelWarn})
	e := newEngine(t, engine.Config{Slog: slog.New(h), Breaker: cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Hour}})
	var calls atomic.Int32
	must(t, e.HandleFunc("call", func(sc *engine.StepContext) (any, error) {
		calls.Add(1)
		var in struct{ N int }
		if err := sc.Input(&in); err != nil || in.N != 1 {
			return "answered", err // (the second task's, had its breaker stayed closed)
		}
		<-sc.Done() // the system never answers the first
		return nil, sc.Err()
	}))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "deadline", Steps: []engine.StepTemplate{
		{Name: "call", Handler: "call", DependentSystem: "slow-api", NotRetryable: true},
	}}))
	run(t, e)
	ctx := context.Background()
	first, err := e.Start(ctx, "t/deadline", map[string]int{"n": 1}, engine.WithWorkflowTimeout(500*time.Millisecond))
	must(t, err)
	if _, err := first.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatal("the first task's attempt did not start before its 500ms deadline")
	}
	second, err := e.Start(ctx, "t/deadline", map[string]int{"n": 2})
	must(t, err)
	waitFor(t, "the second task's step to run or be held", func() bool {
		return calls.Load() == 2 || explainStep(t, e, second.TaskID, "call").Kind == engine.ExplainSystemPaused
	})
	if n := calls.Load(); n != 1 {
		t.Fatalf("the system was called %d times; the attempt the deadline stopped should have opened its breaker", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "breaker opening failed") {
		t.Fatalf("the breaker's opening was not published: %s", logs.String())
	}
}

// A durable step stopped by its workflow's deadline is told to its
// dependent system's breaker, as a DAG step's attempt is (the test
// above): it was dropped as an abandoned attempt, so a system that only
// ever outlasted its workflows' deadlines never opened its breaker when
// called from code-first workflows.
func TestDurableStepStoppedByItsWorkflowDeadlineFeedsTheBreaker(t *testing.T) {
	e := newEngine(t, engine.Config{Breaker: cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Hour}})
	var calls atomic.Int32
	must(t, engine.RegisterWorkflow(e, "d/deadline", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.Step(wctx, "call", func(ctx context.Context) (int, error) {
			calls.Add(1)
			<-ctx.Done() // the system never answers
			return 0, ctx.Err()
		}, engine.WithStepDependentSystem("slow-api"), engine.WithStepNoRetry())
	}))
	must(t, e.HandleFunc("call", func(*engine.StepContext) (any, error) {
		calls.Add(1)
		return "answered", nil // (had the breaker stayed closed)
	}))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "after", Steps: []engine.StepTemplate{
		{Name: "call", Handler: "call", DependentSystem: "slow-api"},
	}}))
	run(t, e)
	ctx := context.Background()
	first, err := engine.StartWorkflow[int, int](ctx, e, "d/deadline", 1, engine.WithWorkflowTimeout(500*time.Millisecond))
	must(t, err)
	if _, err := first.Result(ctx); !errors.Is(err, engine.ErrWorkflowTimeout) {
		t.Fatalf("the workflow past its deadline: %v, want ErrWorkflowTimeout", err)
	}
	if calls.Load() != 1 {
		t.Fatal("the durable step did not start before its workflow's 500ms deadline")
	}
	second, err := e.Start(ctx, "t/after", nil)
	must(t, err)
	waitFor(t, "the second task's step to run or be held", func() bool {
		return calls.Load() == 2 || explainStep(t, e, second.TaskID, "call").Kind == engine.ExplainSystemPaused
	})
	if n := calls.Load(); n != 1 {
		t.Fatalf("the system was called %d times; the durable step the deadline stopped should have opened its breaker", n)
	}
}
