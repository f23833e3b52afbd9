package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
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

// TestRescueThatFailsTasksReadsNoneOfThem: the tasks a rescue pass fails
// (leases lost with no attempt left, deadlines passed) are announced from
// the pass's result: their workflow, version, queue and trace context come
// with it. The hook read each failed task back, one GetTask per task, up
// to the pass's limit of 1,000.
func TestRescueThatFailsTasksReadsNoneOfThem(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	tp, exp := newRecorder(t)
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	st := &countingReads{Store: openSQLite(t)}
	e := newEngine(t, engine.Config{Store: st, Clock: clk, Metrics: m, TracerProvider: tp})
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.HandleFunc("slow", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "lost", Version: "1.2.0", Queue: "q1", Steps: []engine.StepTemplate{{Name: "s", Handler: "h", RetryLimit: 1}}}))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "late", Steps: []engine.StepTemplate{{Name: "s", Handler: "slow"}}}))
	for i := range 3 {
		_, err := e.Start(ctx, "t/lost", map[string]int{"n": i})
		must(t, err)
	}
	_, err := e.Start(ctx, "t/late", nil, engine.WithWorkflowTimeout(time.Minute))
	must(t, err)
	// A worker that claims the lost steps and disappears.
	claimed, err := st.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "gone", Limit: 10, LeaseTTL: time.Minute, Handlers: []string{"h"}, Queues: []string{"q1"}, Now: clk.Now()})
	must(t, err)
	if len(claimed) != 3 {
		t.Fatalf("claimed %d steps, want 3", len(claimed))
	}
	events, stop := e.Subscribe(16)
	defer stop()
	clk.Advance(2 * time.Minute)
	before := st.reads.Load()
	_, err = e.Rescue(ctx)
	must(t, err)
	if n := st.reads.Load() - before; n != 0 {
		t.Errorf("the rescue pass read %d tasks back one by one, want none", n)
	}
	failed := 0
	for len(events) > 0 {
		if ev := <-events; ev.Name == engine.EventTaskFailed {
			failed++
		}
	}
	if failed != 4 {
		t.Errorf("%d task.failed events, want 4", failed)
	}
	for wf, want := range map[string]float64{"t/lost": 3, "t/late": 1} {
		if got, _ := metricValue(t, reg, "tasker_tasks_failed_total", map[string]string{"workflow": wf}); got != want {
			t.Errorf("tasks_failed_total{workflow=%q} = %v, want %v", wf, got, want)
		}
	}
	lost := named(spansOf(exp), "tasker.task t/lost")
	if len(lost) != 3 {
		t.Fatalf("%d run spans of t/lost, want 3", len(lost))
	}
	for _, s := range lost {
		wantAttrs(t, s, map[string]string{"tasker.outcome": "error", "tasker.workflow.version": "1.2.0", "tasker.queue": "q1"})
	}
	wantAttrs(t, only(t, spansOf(exp), "tasker.task t/late"), map[string]string{"tasker.outcome": "error"})
}

// countingReads counts GetTask calls.
type countingReads struct {
	store.Store
	reads atomic.Int64
}

func (s *countingReads) GetTask(ctx context.Context, id int64) (*store.TaskDetail, error) {
	s.reads.Add(1)
	return s.Store.GetTask(ctx, id)
}
