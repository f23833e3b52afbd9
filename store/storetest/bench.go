package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/internal/bench/ceiling"
	"github.com/tasker-go/tasker/store"
)

// RawInsertCommit measures the ceiling every backend is compared with: one
// single-row INSERT per transaction on db (the probe `tasker bench` prints
// as its ceiling, internal/bench/ceiling).
func RawInsertCommit(b *testing.B, db *bun.DB) {
	ctx := context.Background()
	if err := ceiling.CreateTable(ctx, db); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := ceiling.InsertCommit(ctx, db, "x"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// ClaimComplete measures claim + complete cycles of single-step tasks on s,
// claimed and finished batch at a time (one claim transaction and one
// completion transaction per batch). Tasks are created outside the timer,
// as many as cycles run; it reports steps/s.
func ClaimComplete(b *testing.B, s store.Store, batch int) {
	ctx := context.Background()
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
}
