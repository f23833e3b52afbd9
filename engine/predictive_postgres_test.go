package engine_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store/postgres"
)

// On PostgreSQL the pool's pressure is assessed (on SQLite it is not: its
// one writer is busy whenever anything writes), and the history is read
// from the database.
func TestPredictiveRetryOnPostgres(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t), MaxConns: 4})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	e, err := engine.New(engine.Config{Store: s})
	must(t, err)
	t.Cleanup(func() { _ = e.Close() })
	must(t, e.HandleFunc("h", failOnce(errors.New("read tcp: i/o timeout: deadline exceeded"))))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "pg", PredictiveRetry: true,
		Steps: []engine.StepTemplate{{Name: "call", Handler: "h", Backoff: retry.Policy{Base: 20 * time.Second, NoJitter: true}}}}))
	hd, err := e.Start(ctx, "t/pg", nil)
	must(t, err)
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	ex, err := e.Explain(ctx, hd.TaskID)
	must(t, err)
	b, d := ex.Steps[0].Backoff, ex.Steps[0].Diagnosis
	if b == nil || d == nil {
		t.Fatalf("explain %+v", ex.Steps[0])
	}
	pf, assessed := pressureFactors[b.Pressure]
	if !assessed || b.Pressure == "not_assessed" || d.System.Pressure == "not_assessed" || d.System.PoolMax != 4 {
		t.Fatalf("pressure not assessed on postgres: %+v / %+v", b, d.System)
	}
	want := time.Duration(math.Round(float64(20*time.Second) * 1.5 * pf))
	if b.ErrorClass != "timeout" || b.HistoryAttempts != 0 || b.Final != min(want, 5*time.Minute) {
		t.Fatalf("decision %+v, want %s", b, want)
	}
}
