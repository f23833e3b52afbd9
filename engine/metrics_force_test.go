package engine_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// A forced cancel of a task that had completed is counted once: its end
// was counted in tasks_completed_total, and the correction does not count
// it in tasks_cancelled_total as well (two ends for one run). A cancel of
// an unfinished task still counts.
func TestForcedCancelOfAFinishedTaskCountsOneEnd(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	e := newEngine(t, engine.Config{Metrics: m})
	must(t, e.HandleFunc("ok", func(*engine.StepContext) (any, error) { return "ok", nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "done", Steps: []engine.StepTemplate{{Name: "x", Handler: "ok"}}}))
	done, err := e.Start(ctx, "t/done", map[string]int{"n": 1})
	must(t, err)
	_, err = e.RunOnce(ctx)
	must(t, err)
	pending, err := e.Start(ctx, "t/done", map[string]int{"n": 2}) // cancelled before it runs
	must(t, err)
	must(t, e.Cancel(ctx, done.TaskID, "withdrawn", engine.Force()))
	must(t, e.Cancel(ctx, pending.TaskID, "not needed", engine.Force()))
	for id, want := range map[int64]store.TaskState{done.TaskID: store.TaskCancelled, pending.TaskID: store.TaskCancelled} {
		if out, err := e.Wait(ctx, id); err != nil || out.State != want {
			t.Fatalf("task %d: %v, %v; want %s", id, out, err, want)
		}
	}
	wf := map[string]string{"workflow": "t/done"}
	if got, _ := metricValue(t, reg, "tasker_tasks_completed_total", wf); got != 1 {
		t.Errorf("tasks_completed_total = %v, want 1", got)
	}
	if got, _ := metricValue(t, reg, "tasker_tasks_cancelled_total", wf); got != 1 {
		t.Errorf("tasks_cancelled_total = %v, want 1 (the pending task's; the completed task's end was counted)", got)
	}
}
