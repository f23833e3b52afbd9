package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
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
