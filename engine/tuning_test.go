package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
)

// With adaptive_batching on, the claim loop's batch size comes from the
// sizer (conservative first, from outcomes after ten claims) and Status
// says so; off, it is BatchSize. On SQLite the concurrency limit is not
// tuned whatever the toggle says, and Status says why.
func TestAdaptiveBatchingStatusOnSQLite(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{Execution: engine.ExecutionConfig{BatchSize: 64, MaxConcurrency: 64}})
	must(t, e.HandleFunc("noop", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "one", Steps: []engine.StepTemplate{{Name: "s", Handler: "noop"}}}))
	if b := e.Status().Batch; b.Adaptive || b.Size != 64 {
		t.Fatalf("before Run: %+v", b)
	}
	must(t, e.SetToggle(ctx, engine.ToggleAdaptiveBatching, true))
	must(t, e.SetToggle(ctx, "dynamic_concurrency", true))
	run(t, e)
	var last *engine.TaskHandle
	for i := range 300 {
		h, err := e.Start(ctx, "t/one", map[string]int{"i": i})
		must(t, err)
		last = h
	}
	if _, err := last.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st := e.Status()
	if !st.Batch.Adaptive || st.Batch.Size < 1 || st.Batch.Size > 64 || st.Batch.Reason == "adaptive batching off" {
		t.Fatalf("adaptive batching on: %+v", st.Batch)
	}
	if st.Concurrency.Limit != 64 || st.Concurrency.Dynamic || !strings.Contains(st.Concurrency.Reason, "single-writer") {
		t.Fatalf("SQLite concurrency: %+v", st.Concurrency)
	}
	t.Logf("batch %+v", st.Batch)
}

// On SQLite the pool's pressure is not assessed (its one writer connection
// is busy whenever anything writes), and Status says so as the diagnosis,
// the predictive retry and the report do; it said "low", a reading never
// taken.
func TestConcurrencyPressureNotAssessedOnSQLite(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	must(t, e.HandleFunc("noop", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "one", Steps: []engine.StepTemplate{{Name: "s", Handler: "noop"}}}))
	run(t, e)
	h, err := e.Start(ctx, "t/one", nil)
	must(t, err)
	if _, err := h.Wait(ctx); err != nil { // the run's tuning is in place once a step ran
		t.Fatal(err)
	}
	if c := e.Status().Concurrency; c.Pressure != "not_assessed" {
		t.Fatalf("SQLite concurrency status %+v, want pressure not_assessed", c)
	}
}
