package engine_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
)

// TestResolveThatCompletesATaskAnnouncesIt: resolving the last unfinished
// step of a task completes it; the task's end is announced as any other
// (task.completed, tasks_completed_total, the task's span), whether the
// step was pending or had failed the task.
func TestResolveThatCompletesATaskAnnouncesIt(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { resolveAnnouncesTheEnd(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		s, err := postgres.Open(context.Background(), pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t)})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		resolveAnnouncesTheEnd(t, s)
	})
}

func resolveAnnouncesTheEnd(t *testing.T, st store.Store) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	tp, exp := newRecorder(t)
	e := newEngine(t, engine.Config{Store: st, Metrics: m, TracerProvider: tp})
	must(t, e.HandleFunc("boom", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("no way")) }))
	must(t, e.Register(&engine.Template{Namespace: "r", Name: "one", Steps: []engine.StepTemplate{{Name: "s", Handler: "boom"}}}))
	events, stop := e.Subscribe(64)
	defer stop()

	pending, err := e.Start(ctx, "r/one", map[string]int{"n": 1}) // resolved before it runs
	must(t, err)
	must(t, e.Resolve(ctx, pending.TaskID, "s", "by hand"))

	failed, err := e.Start(ctx, "r/one", map[string]int{"n": 2}) // fails, then resolved
	must(t, err)
	_, err = e.RunOnce(ctx)
	must(t, err)
	must(t, e.Resolve(ctx, failed.TaskID, "s", "by hand"))

	for _, id := range []int64{pending.TaskID, failed.TaskID} {
		out, err := e.Wait(ctx, id)
		must(t, err)
		if out.State != store.TaskComplete {
			t.Fatalf("task %d is %s after the resolve, want complete", id, out.State)
		}
	}
	completed := map[int64]int{}
	for len(events) > 0 {
		if ev := <-events; ev.Name == engine.EventTaskCompleted {
			completed[ev.TaskID]++
		}
	}
	if completed[pending.TaskID] != 1 || completed[failed.TaskID] != 1 {
		t.Errorf("task.completed events %v, want one for task %d and one for task %d", completed, pending.TaskID, failed.TaskID)
	}
	if got, _ := metricValue(t, reg, "tasker_tasks_completed_total", map[string]string{"workflow": "r/one"}); got != 2 {
		t.Errorf("tasks_completed_total = %v, want 2", got)
	}
	if n := len(named(spansOf(exp), "tasker.task r/one")); n != 3 { // the failure's, then both completions
		t.Errorf("%d task spans, want 3 (the failure and two completions)", n)
	}
}

// TestResolveBesideACommitThatCompletesTheTask: a worker's commit that
// completes a task just after a Resolve of its other step committed
// announces the task's end, and the Resolve does not announce it again.
// The Resolve told the two apart by completion times, equal under a
// fake clock: task.completed and tasks_completed_total came twice.
func TestResolveBesideACommitThatCompletesTheTask(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	hs := &afterResolve{Store: openSQLite(t)}
	e := newEngine(t, engine.Config{Store: hs, Metrics: m, Clock: clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))})
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return "done", nil }))
	must(t, e.Register(&engine.Template{Namespace: "r", Name: "two", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}, {Name: "b", Handler: "h"}}}))
	events, stop := e.Subscribe(64)
	defer stop()
	h, err := e.Start(ctx, "r/two", nil)
	must(t, err)
	hs.hook = func() { // a worker completes a, the last step, in between
		if n, err := e.RunOnce(ctx); err != nil || n != 1 {
			t.Errorf("RunOnce = %d, %v; want the one attempt of a", n, err)
		}
	}
	must(t, e.Resolve(ctx, h.TaskID, "b", "by hand"))
	d, err := hs.GetTask(ctx, h.TaskID)
	must(t, err)
	if d.Task.State != store.TaskComplete {
		t.Fatalf("task is %s after the resolve and the commit, want complete", d.Task.State)
	}
	completed := 0
	for len(events) > 0 {
		if ev := <-events; ev.Name == engine.EventTaskCompleted {
			completed++
		}
	}
	if completed != 1 {
		t.Errorf("%d task.completed events, want 1 (the commit's)", completed)
	}
	if got, _ := metricValue(t, reg, "tasker_tasks_completed_total", map[string]string{"workflow": "r/two"}); got != 1 {
		t.Errorf("tasks_completed_total = %v, want 1", got)
	}
}

// afterResolve runs hook (once) when a ResolveStep has committed, before
// the engine reads on.
type afterResolve struct {
	store.Store
	hook func()
}

func (s *afterResolve) ResolveStep(ctx context.Context, p *store.ResolveStepParams) (*store.ResolveStepResult, error) {
	rs, err := s.Store.ResolveStep(ctx, p)
	if h := s.hook; h != nil && err == nil {
		s.hook = nil
		h()
	}
	return rs, err
}

// TestResolveThatRevivesAFailedTaskAnnouncesIt: resolving the failed step
// of a failed task with steps left moves the task back to pending, and
// subscribers hear it (task.retry_requested, as for a Retry), after the
// step's step.resolved_manually; the move went unannounced, so a
// subscriber's last word on the task was its task.failed.
func TestResolveThatRevivesAFailedTaskAnnouncesIt(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	must(t, e.HandleFunc("boom", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("no way")) }))
	must(t, e.HandleFunc("ok", func(*engine.StepContext) (any, error) { return "ok", nil }))
	must(t, e.Register(&engine.Template{Namespace: "r", Name: "chain", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "boom"}, {Name: "b", Handler: "ok", DependsOn: []string{"a"}}}}))
	h, err := e.Start(ctx, "r/chain", nil)
	must(t, err)
	_, err = e.RunOnce(ctx)
	must(t, err)
	events, stop := e.Subscribe(64)
	defer stop()
	must(t, e.Resolve(ctx, h.TaskID, "a", "by hand"))
	var got []string
	for len(events) > 0 {
		got = append(got, (<-events).Name)
	}
	want := []string{engine.EventStepResolved, engine.EventTaskRetried}
	if !slices.Equal(got, want) {
		t.Fatalf("events of the resolve %v, want %v", got, want)
	}
	_, err = e.RunOnce(ctx) // and the task runs on to its end
	must(t, err)
	out, err := e.Wait(ctx, h.TaskID)
	must(t, err)
	if out.State != store.TaskComplete {
		t.Fatalf("task is %s after b ran, want complete", out.State)
	}
}
