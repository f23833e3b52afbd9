package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// TestRescueThatFailsATaskEndsItsSpan: a step whose lease expired with no
// attempt left fails its task in the rescue; the task's end is announced
// as a commit's is (task.failed, tasks_failed_total) and its run span is
// emitted by the process that ended it, with the error outcome.
func TestRescueThatFailsATaskEndsItsSpan(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	tp, exp := newRecorder(t)
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Metrics: m, TracerProvider: tp}})
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "lost", Steps: []engine.StepTemplate{{Name: "s", Handler: "h", RetryLimit: 1}}}))
	events, stop := env.Subscribe(16)
	defer stop()
	h, err := env.Start(ctx, "t/lost", nil)
	must(t, err)
	// A worker that claims the step and disappears.
	claimed, err := env.Store.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "gone", Limit: 1, LeaseTTL: time.Minute, Handlers: []string{"h"}, Now: env.Clock.Now()})
	must(t, err)
	if len(claimed) != 1 {
		t.Fatalf("claimed %d steps, want 1", len(claimed))
	}
	env.Clock.Advance(2 * time.Minute)
	_, err = env.Rescue(ctx)
	must(t, err)
	if d := env.Task(h.TaskID); d.Task.State != store.TaskError {
		t.Fatalf("task %s after the rescue, want error", d.Task.State)
	}
	failedEvents := 0
	for len(events) > 0 {
		if ev := <-events; ev.Name == engine.EventTaskFailed && ev.TaskID == h.TaskID {
			failedEvents++
		}
	}
	if failedEvents != 1 {
		t.Errorf("%d task.failed events, want 1", failedEvents)
	}
	if got, _ := metricValue(t, reg, "tasker_tasks_failed_total", map[string]string{"workflow": "t/lost"}); got != 1 {
		t.Errorf("tasks_failed_total = %v, want 1", got)
	}
	s := only(t, spansOf(exp), "tasker.task t/lost")
	wantAttrs(t, s, map[string]string{"tasker.outcome": "error", "tasker.workflow": "t/lost"})
}
