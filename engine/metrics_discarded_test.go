package engine_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
)

// TestCancelledAttemptIsNoDiscardedResult: an attempt whose task is
// cancelled while it runs is abandoned (the histogram's outcome, the
// step.result_discarded event), but its result was not refused for a lost
// lease: results_discarded_total and Stats.ResultsDiscarded, documented as
// results dropped because their lease was lost, a sign of lease trouble,
// stay at 0.
func TestCancelledAttemptIsNoDiscardedResult(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	e := newEngine(t, engine.Config{Metrics: m})
	entered := make(chan struct{})
	must(t, e.HandleFunc("block", func(sc *engine.StepContext) (any, error) {
		close(entered)
		<-sc.Done()
		return nil, sc.Err()
	}))
	must(t, e.Register(&engine.Template{Namespace: "c", Name: "block", Steps: []engine.StepTemplate{{Name: "s", Handler: "block"}}}))
	events, stop := e.Subscribe(16)
	defer stop()
	h, err := e.Start(ctx, "c/block", nil)
	must(t, err)
	ran := make(chan error, 1)
	go func() { _, err := e.RunOnce(ctx); ran <- err }()
	<-entered
	must(t, e.Cancel(ctx, h.TaskID, "not needed"))
	must(t, <-ran)

	discardedEvents := 0
	for len(events) > 0 {
		if ev := <-events; ev.Name == engine.EventStepDiscarded {
			discardedEvents++
		}
	}
	if discardedEvents != 1 {
		t.Errorf("%d step.result_discarded events, want 1", discardedEvents)
	}
	if got, _ := metricValue(t, reg, "tasker_step_attempt_duration_seconds", map[string]string{"outcome": "abandoned"}); got != 1 {
		t.Errorf("abandoned attempts %v, want 1", got)
	}
	if got, _ := metricValue(t, reg, "tasker_results_discarded_total", nil); got != 0 || e.Stats().ResultsDiscarded != 0 {
		t.Errorf("results_discarded_total %v, Stats.ResultsDiscarded %d; want 0 (no lease was lost)", got, e.Stats().ResultsDiscarded)
	}
}
