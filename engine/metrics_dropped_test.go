package engine_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
)

// TestMetricsCountEventsDroppedWhileNotRunning: events_dropped_total
// counts the events a full subscription missed whenever the engine
// published them, as Stats.EventsDropped does: an engine that only starts
// tasks (an API process), or is driven by RunOnce, never runs Run.
func TestMetricsCountEventsDroppedWhileNotRunning(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	e := newEngine(t, engine.Config{Metrics: m})
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.Register(&engine.Template{Namespace: "d", Name: "drop", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}))
	_, stop := e.Subscribe(1)
	defer stop()
	for i := range 3 {
		_, err := e.Start(ctx, "d/drop", map[string]int{"i": i}) // task.started each; the buffer holds one
		must(t, err)
	}
	if got := e.Stats().EventsDropped; got != 2 {
		t.Fatalf("Stats.EventsDropped = %d, want 2", got)
	}
	if got, _ := metricValue(t, reg, "tasker_events_dropped_total", nil); got != 2 {
		t.Fatalf("events_dropped_total = %v, want 2 (Stats counts 2)", got)
	}
	_, err := e.RunOnce(ctx) // three step.started, three step.completed, three task.completed: all dropped
	must(t, err)
	if got, _ := metricValue(t, reg, "tasker_events_dropped_total", nil); float64(e.Stats().EventsDropped) != got {
		t.Fatalf("events_dropped_total = %v, Stats.EventsDropped = %d; want the same", got, e.Stats().EventsDropped)
	}
}
