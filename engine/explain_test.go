package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/testkit"
)

// explainStep returns the explanation of one step, failing the test when
// the task has none for it.
func explainStep(t *testing.T, e *engine.Engine, taskID int64, step string) engine.StepExplanation {
	t.Helper()
	x, err := e.Explain(context.Background(), taskID)
	must(t, err)
	for _, s := range x.Steps {
		if s.Step == step {
			return s
		}
	}
	t.Fatalf("task %d: no explanation for step %s in %+v", taskID, step, x)
	return engine.StepExplanation{}
}

func wantKind(t *testing.T, s engine.StepExplanation, kind engine.ExplainKind, words ...string) {
	t.Helper()
	if s.Kind != kind {
		t.Fatalf("step %s: kind %s (%s), want %s", s.Step, s.Kind, s.Reason, kind)
	}
	for _, w := range words {
		if !strings.Contains(s.Reason, w) {
			t.Fatalf("step %s: reason %q does not say %q", s.Step, s.Reason, w)
		}
	}
}

// register records a live worker serving handlers, as a running engine
// would.
func registerWorker(t *testing.T, env *testkit.Env, id string, handlers ...string) {
	t.Helper()
	_, err := env.Store.RegisterWorker(context.Background(), &store.RegisterWorkerParams{ID: id, Queues: []string{"default"}, Handlers: handlers,
		TTL: time.Minute, Now: env.Clock.Now()})
	must(t, err)
}

// Dependencies, readiness and the registry: a ready step with no live
// worker at all, then with live workers none of which serves it, then
// served; its dependant waits on it by name.
func TestExplainDependenciesAndWorkers(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	noop := func(sc *engine.StepContext) (any, error) { return nil, nil }
	must(t, env.HandleFunc("h.a", noop))
	must(t, env.HandleFunc("h.b", noop))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "ab", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "h.a"}, {Name: "b", Handler: "h.b", DependsOn: []string{"a"}}}}))
	h, err := env.Start(ctx, "t/ab", nil)
	must(t, err)

	x, err := env.Explain(ctx, h.TaskID)
	must(t, err)
	if x.State != store.TaskPending || len(x.Steps) != 2 || len(x.LiveWorkers) != 0 || x.Workflow != "t/ab" {
		t.Fatalf("explanation %+v", x)
	}
	// The summary counts steps in words ("1 no live worker" it read).
	if want := fmt.Sprintf("task %d is pending: 1 step that no live worker serves, 1 step waiting on dependencies", h.TaskID); x.Reason != want {
		t.Fatalf("summary %q, want %q", x.Reason, want)
	}
	wantKind(t, explainStep(t, env.Engine, h.TaskID, "a"), engine.ExplainNoLiveWorker, "there is no live worker")
	b := explainStep(t, env.Engine, h.TaskID, "b")
	wantKind(t, b, engine.ExplainDependencies, "waiting on 1 dependency: a (pending)")
	if !slices.Equal(b.WaitingOn, []string{"a (pending)"}) {
		t.Fatalf("b waits on %v", b.WaitingOn)
	}

	registerWorker(t, env, "old-1", "h.b")
	registerWorker(t, env, "old-2", "h.b")
	a := explainStep(t, env.Engine, h.TaskID, "a")
	wantKind(t, a, engine.ExplainNoLiveWorker, "no live worker serves handler h.a (live workers: old-1, old-2)")

	// Serving the handler on another queue does not count.
	_, err = env.Store.RegisterWorker(ctx, &store.RegisterWorkerParams{ID: "eu-1", Queues: []string{"eu", "bulk"}, Handlers: []string{"h.a"},
		TTL: time.Minute, Now: env.Clock.Now()})
	must(t, err)
	a = explainStep(t, env.Engine, h.TaskID, "a")
	wantKind(t, a, engine.ExplainNoLiveWorker, "no live worker serves handler h.a on queue default (it is served on other queues: eu-1 on eu,bulk)")
	if a.Queue != "default" {
		t.Fatalf("a is on queue %q", a.Queue)
	}

	registerWorker(t, env, "new-1", "h.a", "h.b")
	a = explainStep(t, env.Engine, h.TaskID, "a")
	wantKind(t, a, engine.ExplainReady, "ready now", "new-1")
	if !slices.Equal(a.LiveWorkers, []string{"new-1"}) {
		t.Fatalf("a is served by %v, want [new-1]", a.LiveWorkers)
	}
	// Registry entries expire: a minute later nobody is live again.
	env.Clock.Advance(time.Minute)
	wantKind(t, explainStep(t, env.Engine, h.TaskID, "a"), engine.ExplainNoLiveWorker, "there is no live worker")

	if _, err := env.Explain(ctx, h.TaskID+100); !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), fmt.Sprint(h.TaskID+100)) {
		t.Fatalf("explaining a missing task: %v", err)
	}
}

// A failed attempt: retry due at T, attempt n of m, the last error.
// A step running: leased by the worker until T. A permanent failure:
// failed, and the rest of the task will not run.
func TestExplainRetryLeaseAndFailure(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Execution: engine.ExecutionConfig{LeaseTTL: time.Minute}}})
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	must(t, env.HandleFunc("flaky", func(sc *engine.StepContext) (any, error) {
		switch sc.Attempt {
		case 1:
			return nil, errors.New("card service said 503")
		case 2:
			close(entered)
			<-release
		}
		return "ok", nil
	}))
	must(t, env.HandleFunc("broken", func(sc *engine.StepContext) (any, error) {
		return nil, engine.Permanent(errors.New("invalid account"))
	}))
	must(t, env.HandleFunc("after", func(sc *engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "flaky", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "flaky", RetryLimit: 4}}}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "broken", Steps: []engine.StepTemplate{
		{Name: "open", Handler: "broken"}, {Name: "notify", Handler: "after", DependsOn: []string{"open"}}}}))

	h, err := env.Start(ctx, "t/flaky", nil)
	must(t, err)
	_, err = env.RunOnce(ctx)
	must(t, err)
	s := explainStep(t, env.Engine, h.TaskID, "charge")
	wantKind(t, s, engine.ExplainRetry, "retry due at", "attempt 2 of 4", "card service said 503")
	step := env.Task(h.TaskID).Step("charge")
	if s.Attempt != 2 || s.MaxAttempts != 4 || s.LastError != "card service said 503" || !s.Until.Equal(step.NextAttemptAt) || !s.Until.After(env.Clock.Now()) {
		t.Fatalf("retry explained as %+v; the step's next attempt is at %s", s, step.NextAttemptAt)
	}

	env.Clock.Set(step.NextAttemptAt)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := env.RunOnce(ctx); err != nil {
			t.Errorf("RunOnce: %v", err)
		}
	})
	<-entered
	s = explainStep(t, env.Engine, h.TaskID, "charge")
	wantKind(t, s, engine.ExplainLeased, "running attempt 2 of 4 on worker testkit", "not a live worker")
	if s.Worker != "testkit" || s.WorkerLive || !s.Until.Equal(env.Clock.Now().Add(time.Minute)) {
		t.Fatalf("lease explained as %+v", s)
	}
	env.Clock.Advance(2 * time.Minute)
	wantKind(t, explainStep(t, env.Engine, h.TaskID, "charge"), engine.ExplainLeased, "the lease has expired")
	close(release)
	wg.Wait()

	b, err := env.Start(ctx, "t/broken", nil)
	must(t, err)
	env.RunUntilDone(b.TaskID)
	x, err := env.Explain(ctx, b.TaskID)
	must(t, err)
	if x.State != store.TaskError || !strings.Contains(x.Reason, "is error") {
		t.Fatalf("explanation of the failed task: %+v", x)
	}
	wantKind(t, explainStep(t, env.Engine, b.TaskID, "open"), engine.ExplainFailed, "failed for good after attempt 1 of 3: invalid account", "until an operator retries it")
	wantKind(t, explainStep(t, env.Engine, b.TaskID, "notify"), engine.ExplainTaskFinished, "is error: this step will not run unless an operator retries the task")

	// A cancelled task has no unfinished step left: the summary says so.
	c, err := env.Start(ctx, "t/broken", map[string]int{"n": 2})
	must(t, err)
	must(t, env.Cancel(ctx, c.TaskID, "not needed"))
	x, err = env.Explain(ctx, c.TaskID)
	must(t, err)
	if x.State != store.TaskCancelled || len(x.Steps) != 0 || x.Reason != fmt.Sprintf("task %d is cancelled", c.TaskID) {
		t.Fatalf("explanation of the cancelled task: %+v", x)
	}
}

// A 429 pauses the dependent system: the next step calling it waits,
// without an attempt, until the pause ends; a step that is ready now is
// held by the same pause.
func TestExplainSystemPaused(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	calls := 0
	must(t, env.HandleFunc("pay", func(sc *engine.StepContext) (any, error) {
		calls++
		return nil, engine.Retryable(errors.New("429 too many requests"), 5*time.Minute)
	}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "pay", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "pay", DependentSystem: "payments"}}}))
	first, err := env.Start(ctx, "t/pay", map[string]int{"n": 1})
	must(t, err)
	_, err = env.RunOnce(ctx)
	must(t, err)
	pausedUntil := env.Clock.Now().Add(5 * time.Minute)
	wantKind(t, explainStep(t, env.Engine, first.TaskID, "charge"), engine.ExplainRetry, "429 too many requests")

	second, err := env.Start(ctx, "t/pay", map[string]int{"n": 2})
	must(t, err)
	_, err = env.RunOnce(ctx)
	must(t, err)
	if calls != 1 {
		t.Fatalf("the handler ran %d times; the paused system should have held the second step back", calls)
	}
	s := explainStep(t, env.Engine, second.TaskID, "charge")
	wantKind(t, s, engine.ExplainSystemPaused, "dependent system payments is paused", "no attempt used")
	if s.System != "payments" || !s.Until.Equal(pausedUntil) {
		t.Fatalf("pause explained as %+v, want payments until %s", s, pausedUntil)
	}

	// Ready now, served, but the gate holds it.
	registerWorker(t, env, "w1", "pay")
	third, err := env.Start(ctx, "t/pay", map[string]int{"n": 3})
	must(t, err)
	s = explainStep(t, env.Engine, third.TaskID, "charge")
	wantKind(t, s, engine.ExplainSystemPaused, "ready, but dependent system payments is paused")
	if !s.Until.Equal(pausedUntil) {
		t.Fatalf("the gate's pause ends at %s, want %s", s.Until, pausedUntil)
	}
}

// Code-first workflows: the driver is explained by what the workflow
// waits for — a durable sleep, an event (with its timeout), a durable
// step's retry.
func TestExplainWorkflowWaits(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/nap", func(wctx *engine.WorkflowContext, in struct{}) (string, error) {
		return "", engine.Sleep(wctx, time.Hour)
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/approve", func(wctx *engine.WorkflowContext, in struct{}) (string, error) {
		_, err := engine.WaitEvent[string](wctx, "approved", 2*time.Hour)
		return "", err
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/retry", func(wctx *engine.WorkflowContext, in struct{}) (string, error) {
		return engine.Step(wctx, "fetch", func(ctx context.Context) (string, error) { return "", errors.New("upstream down") })
	}))
	start := env.Clock.Now()
	nap, err := engine.StartWorkflow[struct{}, string](ctx, env.Engine, "t/nap", struct{}{})
	must(t, err)
	appr, err := engine.StartWorkflow[struct{}, string](ctx, env.Engine, "t/approve", struct{}{})
	must(t, err)
	rt, err := engine.StartWorkflow[struct{}, string](ctx, env.Engine, "t/retry", struct{}{})
	must(t, err)
	_, err = env.RunOnce(ctx)
	must(t, err)

	s := explainStep(t, env.Engine, nap.TaskID, engine.DriverStep)
	wantKind(t, s, engine.ExplainSleeping, "the workflow sleeps until")
	if !s.Until.Equal(start.Add(time.Hour)) {
		t.Fatalf("sleep until %s, want %s", s.Until, start.Add(time.Hour))
	}
	s = explainStep(t, env.Engine, appr.TaskID, engine.DriverStep)
	wantKind(t, s, engine.ExplainWaitingForEvent, `waits for event "approved"`)
	if s.Event != "approved" || !s.Until.Equal(start.Add(2*time.Hour)) {
		t.Fatalf("event wait explained as %+v", s)
	}
	s = explainStep(t, env.Engine, rt.TaskID, engine.DriverStep)
	wantKind(t, s, engine.ExplainRetry, "durable step fetch retries at", "attempt 2 of 3", "upstream down")
	if s.Durable != "fetch" {
		t.Fatalf("retry explained as %+v", s)
	}
	x, err := env.Explain(ctx, nap.TaskID)
	must(t, err)
	if len(x.Steps) != 1 {
		t.Fatalf("a code-first task is explained by its driver alone, got %+v", x.Steps)
	}
}

// Two engines on one SQLite file, each serving its own handler: a step of
// a third handler is ready, and no live worker serves it; once an engine
// with that handler runs, it is claimed and completes.
func TestExplainNoLiveWorkerServesHandler(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	ctx := context.Background()
	noop := func(sc *engine.StepContext) (any, error) { return "done", nil }
	var engines []*engine.Engine
	for _, w := range []struct{ id, handler string }{{"worker-a", "h.a"}, {"worker-b", "h.b"}} {
		st, err := sqlite.Open(ctx, env.Store.Path(), nil)
		must(t, err)
		t.Cleanup(func() { st.Close() })
		// Tuning and schedules wait an hour: the only timers a second
		// away are the claim loops' polls, which the test steps to.
		e, err := engine.New(engine.Config{Store: st, Clock: env.Clock.Fake, WorkerID: w.id, Version: "v1",
			Execution: engine.ExecutionConfig{TuneInterval: time.Hour, ScheduleInterval: time.Hour}})
		must(t, err)
		must(t, e.HandleFunc(w.handler, noop))
		engines = append(engines, e)
		done, err := e.RunBackground(ctx)
		must(t, err)
		t.Cleanup(func() {
			must(t, e.Stop(ctx))
			must(t, <-done)
		})
	}
	// Both have looked for work at least once: had they claimed the
	// step, it would show an attempt below.
	waitFor(t, "both engines' first claim", func() bool {
		return engines[0].Stats().ClaimTransactions > 0 && engines[1].Stats().ClaimTransactions > 0
	})

	must(t, env.HandleFunc("h.c", noop))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "c", Steps: []engine.StepTemplate{{Name: "c", Handler: "h.c"}}}))
	h, err := env.Start(ctx, "t/c", nil)
	must(t, err)
	// Another claim by each (a poll) leaves it alone: handler-aware claims.
	before := []int64{engines[0].Stats().ClaimTransactions, engines[1].Stats().ClaimTransactions}
	waitFor(t, "both engines' poll", func() bool {
		// Move the clock only to the polls' timers (a second away), as
		// they are armed.
		if next, ok := env.Clock.Next(); ok && next.Sub(env.Clock.Now()) <= time.Second {
			env.Clock.Set(next)
		}
		return engines[0].Stats().ClaimTransactions > before[0] && engines[1].Stats().ClaimTransactions > before[1]
	})
	x, err := env.Explain(ctx, h.TaskID)
	must(t, err)
	if !slices.Equal(x.LiveWorkers, []string{"worker-a", "worker-b"}) {
		t.Fatalf("live workers %v", x.LiveWorkers)
	}
	wantKind(t, explainStep(t, env.Engine, h.TaskID, "c"), engine.ExplainNoLiveWorker, "no live worker serves handler h.c (live workers: worker-a, worker-b)")
	if got := env.Task(h.TaskID).Step("c").Attempts; got != 0 {
		t.Fatalf("the step used %d attempts while nobody served it", got)
	}

	done, err := env.RunBackground(ctx)
	must(t, err)
	out, err := h.Wait(ctx)
	must(t, err)
	must(t, env.Stop(ctx))
	must(t, <-done)
	if out.State != store.TaskComplete {
		t.Fatalf("task %s once a worker served h.c", out.State)
	}
}

// A ready step whose concurrency group is full: Explain names the group,
// its limit and the steps that hold it.
func TestExplainLimitReached(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("pay", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "pay", Concurrency: &engine.Concurrency{Max: 1, Key: "customer"},
		Steps: []engine.StepTemplate{{Name: "charge", Handler: "pay"}}}))
	registerWorker(t, env, "w1", "pay")
	first, err := env.Start(ctx, "t/pay", map[string]int{"customer": 7, "order": 1})
	must(t, err)
	second, err := env.Start(ctx, "t/pay", map[string]int{"customer": 7, "order": 2})
	must(t, err)
	held, err := env.Store.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "w1", Limit: 10, LeaseTTL: time.Minute, Grouped: true, Now: env.Clock.Now()})
	must(t, err)
	if len(held) != 1 || held[0].Step.TaskID != first.TaskID {
		t.Fatalf("claimed %d steps", len(held))
	}
	s := explainStep(t, env.Engine, second.TaskID, "charge")
	wantKind(t, s, engine.ExplainLimitReached, "limit of 1", fmt.Sprintf("task %d step charge on worker w1", first.TaskID))
	if !strings.Contains(s.Group, "customer=7") || len(s.Holders) != 1 {
		t.Fatalf("group %q, holders %v", s.Group, s.Holders)
	}
}

// A ready step whose system's rate limit has no token: Explain names the
// system, the rate and when the next token is due.
func TestExplainRateLimited(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("psp", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "call", RateLimits: map[string]engine.RateLimit{"psp": {PerSecond: 2, Burst: 1}},
		Steps: []engine.StepTemplate{{Name: "call", Handler: "psp", DependentSystem: "psp"}}}))
	registerWorker(t, env, "w1", "psp")
	_, err := env.Start(ctx, "t/call", map[string]int{"n": 1})
	must(t, err)
	second, err := env.Start(ctx, "t/call", map[string]int{"n": 2})
	must(t, err)
	if n, err := env.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("ran %d (%v): want the one token's step", n, err)
	}
	s := explainStep(t, env.Engine, second.TaskID, "call")
	wantKind(t, s, engine.ExplainRateLimited, "psp", "2/s, burst 1")
	if want := env.Clock.Now().Add(500 * time.Millisecond); !s.Until.Equal(want.UTC()) {
		t.Fatalf("next token at %s, want %s", s.Until, want)
	}
	env.Clock.Advance(500 * time.Millisecond)
	if n, err := env.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("after the token is due, ran %d (%v)", n, err)
	}
}

// A rate so low its next token is further off than a time.Duration holds
// (one a trillion seconds): Explain's time is still after now, not wrapped
// to the past.
func TestExplainRateLimitedFarOff(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("psp", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "call", RateLimits: map[string]engine.RateLimit{"psp": {PerSecond: 1e-12, Burst: 1}},
		Steps: []engine.StepTemplate{{Name: "call", Handler: "psp", DependentSystem: "psp"}}}))
	registerWorker(t, env, "w1", "psp")
	_, err := env.Start(ctx, "t/call", map[string]int{"n": 1})
	must(t, err)
	second, err := env.Start(ctx, "t/call", map[string]int{"n": 2})
	must(t, err)
	if n, err := env.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("ran %d (%v): want the one token's step", n, err)
	}
	s := explainStep(t, env.Engine, second.TaskID, "call")
	wantKind(t, s, engine.ExplainRateLimited, "psp", "1e-12/s, burst 1")
	if floor := env.Clock.Now().AddDate(290, 0, 0); !s.Until.After(floor) {
		t.Fatalf("next token at %s: want at least 290 years from now (%s)", s.Until, floor)
	}
}
