package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/testkit"
)

// TestResolveClosesATimedOutWorkflow: a code-first workflow that failed its
// WithWorkflowTimeout while it slept is closed by resolving its driver
// with the workflow's return value: the task moves error →
// resolved_manually, Result and Wait report it, and its end is announced
// (step.resolved_manually, task.completed, tasks_completed_total, a span).
// No operator action closed it: Retry refused it (its deadline passed),
// Cancel refused a task in error, and Resolve refused the driver; the
// refusals that remain point at this way.
func TestResolveClosesATimedOutWorkflow(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { resolveClosesTimedOut(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		s, err := postgres.Open(context.Background(), pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t)})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		resolveClosesTimedOut(t, s)
	})
}

func resolveClosesTimedOut(t *testing.T, st store.Store) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	tp, exp := newRecorder(t)
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	e := newEngine(t, engine.Config{Store: st, Clock: clk, Metrics: m, TracerProvider: tp})
	must(t, engine.RegisterWorkflow(e, "t/slow", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		if err := engine.Sleep(wctx, 2*time.Hour); err != nil {
			return 0, err
		}
		return 1, nil
	}))
	h, err := engine.StartWorkflow[int, int](ctx, e, "t/slow", 1, engine.WithWorkflowTimeout(time.Hour))
	must(t, err)
	_, err = e.RunOnce(ctx) // the driver runs to its sleep
	must(t, err)
	clk.Advance(90 * time.Minute) // past the deadline, before the sleep's end
	_, err = e.Rescue(ctx)
	must(t, err)
	if _, err := h.Result(ctx); !errors.Is(err, engine.ErrWorkflowTimeout) {
		t.Fatalf("result before the resolve: %v, want ErrWorkflowTimeout", err)
	}
	if err := e.Retry(ctx, h.TaskID); !errors.Is(err, engine.ErrRefused) || !strings.Contains(err.Error(), "DriverStep") {
		t.Fatalf("Retry of the timed-out workflow: %v, want ErrRefused pointing at a Resolve of its DriverStep", err)
	}
	if err := e.Cancel(ctx, h.TaskID, "stuck"); !errors.Is(err, store.ErrIllegalTransition) || !strings.Contains(err.Error(), "DriverStep") {
		t.Fatalf("Cancel of the timed-out workflow: %v, want ErrIllegalTransition pointing at a Resolve of its DriverStep", err)
	}

	events, stop := e.Subscribe(64)
	defer stop()
	must(t, e.Resolve(ctx, h.TaskID, engine.DriverStep, 7))
	if got, err := h.Result(ctx); err != nil || got != 7 {
		t.Fatalf("Result after the resolve = %d, %v; want the operator's 7", got, err)
	}
	if got, err := engine.GetWorkflow[int](e, h.TaskID).Result(ctx); err != nil || got != 7 {
		t.Fatalf("GetWorkflow(...).Result after the resolve = %d, %v; want 7", got, err)
	}
	out, err := e.Wait(ctx, h.TaskID)
	if err != nil || out.State != store.TaskResolvedManually || out.Err() != nil {
		t.Fatalf("Wait after the resolve = %+v, %v; want resolved_manually, no error", out, err)
	}
	d, err := st.GetTask(ctx, h.TaskID)
	must(t, err)
	for _, s := range d.Steps {
		if want := store.StepCancelled; s.Name == engine.DriverStep && s.State != store.StepResolvedManually || s.Name != engine.DriverStep && s.State != want {
			t.Errorf("step %s is %s: want the driver resolved_manually and the sleep cancelled", s.Name, s.State)
		}
	}
	var resolved, completed int
	for len(events) > 0 {
		switch ev := <-events; {
		case ev.Name == engine.EventStepResolved && ev.Step == engine.DriverStep:
			resolved++
		case ev.Name == engine.EventTaskCompleted && ev.TaskID == h.TaskID:
			completed++
		}
	}
	if resolved != 1 || completed != 1 {
		t.Errorf("%d step.resolved_manually and %d task.completed events, want one each", resolved, completed)
	}
	if got, _ := metricValue(t, reg, "tasker_tasks_completed_total", map[string]string{"workflow": "t/slow"}); got != 1 {
		t.Errorf("tasks_completed_total = %v, want 1", got)
	}
	spans := named(spansOf(exp), "tasker.task t/slow")
	if len(spans) != 2 {
		t.Fatalf("%d task spans, want 2 (the timeout and the resolve)", len(spans))
	}
	wantAttrs(t, spans[1], map[string]string{"tasker.outcome": "resolved_manually"})
	// Finished, it is not resolved twice.
	if err := e.Resolve(ctx, h.TaskID, engine.DriverStep, 8); !errors.Is(err, engine.ErrRefused) || !strings.Contains(err.Error(), "has finished") {
		t.Fatalf("a second Resolve: %v, want ErrRefused saying it has finished", err)
	}
	if got, err := h.Result(ctx); err != nil || got != 7 {
		t.Fatalf("Result after the refused second resolve = %d, %v; want 7 still", got, err)
	}
}

// Resolving a failed workflow's driver cancels its unfinished children:
// no one is left to read their results. Here the parent was failed past
// its deadline by a pass that did not cancel them (the store's sweep
// alone, as when the process dies before closeChildren runs).
func TestResolveOfAFailedWorkflowCancelsItsChildren(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	h, children := parentWaitingOnChild(t, env)
	if c := children(); len(c) != 1 || c[0].State.Done() {
		t.Fatalf("children %+v, want one running", c)
	}
	env.Clock.Advance(2 * time.Hour)
	swept, err := env.Store.RescueExpired(ctx, &store.RescueExpiredParams{Now: env.Clock.Now(), DeadlineCause: store.JSON(`{"kind":"workflow_timeout"}`)})
	if err != nil || swept.TimedOut != 1 {
		t.Fatalf("the store's sweep: %+v, %v; want the parent failed", swept, err)
	}
	must(t, env.Resolve(ctx, h.TaskID, engine.DriverStep, 3))
	if c := children(); c[0].State != store.TaskCancelled {
		t.Fatalf("the child is %s after its parent was resolved, want cancelled", c[0].State)
	}
	if got, err := h.Result(ctx); err != nil || got != 3 {
		t.Fatalf("Result = %d, %v; want 3", got, err)
	}
}
