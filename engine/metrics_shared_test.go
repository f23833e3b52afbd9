package engine_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// TestMetricsSharedByEnginesOfOneWorkerID: running engines of one process
// share a Metrics (as its doc allows) under one WorkerID (given to each):
// the registry still gathers, their pools adding up
// under that worker, each pool counted once (two engines on one store
// share its pool).
func TestMetricsSharedByEnginesOfOneWorkerID(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	shared := openSQLite(t)
	for _, st := range []store.Store{shared, shared, openSQLite(t)} {
		e := newEngine(t, engine.Config{Store: st, Metrics: m, WorkerID: "w-1"})
		must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
		done, err := e.RunBackground(ctx)
		must(t, err)
		t.Cleanup(func() { must(t, e.Stop(ctx)); <-done })
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering the shared metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() == "tasker_pool_connections" && len(f.GetMetric()) != 4 {
			t.Errorf("%d pool_connections series, want 4 (in_use and idle of the one worker's primary and read pools)", len(f.GetMetric()))
		}
	}
}
