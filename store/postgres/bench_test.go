package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
)

func openBench(b *testing.B, dsnSuffix string) *postgres.Store {
	b.Helper()
	s, err := postgres.Open(context.Background(), pgtest.URL(b)+dsnSuffix, &postgres.Options{Schema: pgtest.NewSchema(b), MaxConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// execModes compares pgx's query modes: bun inlines every value, so the
// default (prepare and cache each statement) meets a new statement every
// time. The store's own default is exec.
// (simple_protocol measured the same as exec.)
var execModes = []string{"exec", "cache_statement"}

// BenchmarkRawInsertCommit is the ceiling: one single-row INSERT per
// transaction, synchronous_commit on (the server's setting).
func BenchmarkRawInsertCommit(b *testing.B) {
	for _, mode := range execModes {
		b.Run("mode="+mode, func(b *testing.B) {
			s := openBench(b, "&default_query_exec_mode="+mode)
			db := s.DB()
			ctx := context.Background()
			if _, err := db.ExecContext(ctx, "CREATE TABLE raw (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v TEXT)"); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, "INSERT INTO raw (v) VALUES ('x')"); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}

// BenchmarkClaimComplete measures claim + complete cycles of single-step
// tasks, claimed and finished in batches of the given size (each batch is
// one claim transaction and one completion transaction), from one
// goroutine.
func BenchmarkClaimComplete(b *testing.B) {
	for _, mode := range execModes {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("mode=%s/batch=%d", mode, batch), func(b *testing.B) {
				ctx := context.Background()
				s := openBench(b, "&default_query_exec_mode="+mode)
				// Tasks are created outside the timer, as many as cycles run.
				var timed time.Duration
				cycles := 0
				b.ResetTimer()
				for cycles < b.N {
					b.StopTimer()
					for i := range batch {
						_, err := s.CreateTask(ctx, &store.CreateTaskParams{
							Namespace: "bench", Name: "one", Kind: store.KindDAG,
							IdentityKey: fmt.Sprintf("%d-%d", cycles, i), Context: store.JSON(`{}`),
							Steps: []store.NewStep{{Name: "s", Handler: "h", Retryable: true}},
						})
						if err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
					began := time.Now()
					claimed, err := s.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "bench", Limit: batch, LeaseTTL: time.Minute})
					if err != nil || len(claimed) != batch {
						b.Fatalf("claimed %d: %v", len(claimed), err)
					}
					outcomes := make([]store.StepOutcome, len(claimed))
					for i, c := range claimed {
						outcomes[i] = store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeComplete, Results: store.JSON(`{"ok":true}`)}
					}
					res, err := s.FinishSteps(ctx, &store.FinishStepsParams{Outcomes: outcomes})
					if err != nil || len(res.Tasks) != batch {
						b.Fatalf("finished %+v: %v", res, err)
					}
					timed += time.Since(began)
					cycles += batch
				}
				b.ReportMetric(float64(cycles)/timed.Seconds(), "steps/s")
			})
		}
	}
}
