package engine_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
)

// TestMetricsCountContinuedRuns: a workflow that continues as new twice
// makes three tasks, each started and completed: tasks_started_total
// counts the runs ContinueAsNew creates, as Stats and task.started do,
// and matches tasks_completed_total.
func TestMetricsCountContinuedRuns(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	e := newEngine(t, engine.Config{Metrics: m})
	registerCounter(t, e)
	events, stop := e.Subscribe(64)
	defer stop()
	h, err := engine.StartWorkflow[counterIn, int](ctx, e, "t/counter", counterIn{Total: 3, Per: 1})
	must(t, err)
	for {
		n, err := e.RunOnce(ctx)
		must(t, err)
		if n == 0 {
			break
		}
	}
	if got, err := h.Result(ctx); err != nil || got != 3 {
		t.Fatalf("result %d, %v; want 3", got, err)
	}
	startedEvents := 0
	for len(events) > 0 {
		if ev := <-events; ev.Name == engine.EventTaskStarted {
			startedEvents++
		}
	}
	wf := map[string]string{"workflow": "t/counter"}
	started, _ := metricValue(t, reg, "tasker_tasks_started_total", wf)
	completed, _ := metricValue(t, reg, "tasker_tasks_completed_total", wf)
	if started != 3 || completed != 3 || e.Stats().TasksStarted != 3 || startedEvents != 3 {
		t.Fatalf("tasks_started_total %v, tasks_completed_total %v, Stats.TasksStarted %d, task.started events %d; want 3 of each",
			started, completed, e.Stats().TasksStarted, startedEvents)
	}
}
