package maintainer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/inflight"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// seedFinished creates n one-step tasks and marks them complete at
// epoch (one UPDATE per table: seeding only, the engine never does so).
func seedFinished(tb testing.TB, s store.Store, n int) {
	tb.Helper()
	ctx := context.Background()
	for done := 0; done < n; {
		batch := min(500, n-done)
		ps := make([]*store.CreateTaskParams, batch)
		for i := range ps {
			ps[i] = &store.CreateTaskParams{Namespace: "t", Name: "old", Kind: store.KindDAG, IdentityKey: fmt.Sprintf("old-%d", done+i),
				Context: store.JSON(`{}`), Steps: []store.NewStep{{Name: "s", Handler: "h", Retryable: true}}, Now: epoch}
		}
		if _, err := s.CreateTasks(ctx, ps); err != nil {
			tb.Fatal(err)
		}
		done += batch
	}
	for _, q := range []string{`UPDATE tasker_steps SET state = 'complete', completed_at = ?`, `UPDATE tasker_tasks SET state = 'complete', completed_at = ?`} {
		if _, err := s.DB().NewRaw(q, epoch).Exec(ctx); err != nil {
			tb.Fatal(err)
		}
	}
}

func openPostgres(tb testing.TB) store.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), pgtest.URL(tb), &postgres.Options{Schema: pgtest.NewSchema(tb), MaxConns: 4})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func openSQLite(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "m.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// A pass deletes at most PurgeBatchesPerPass batches; the next pass goes on.
func TestPurgeIsBoundedPerPass(t *testing.T) {
	s := openSQLite(t)
	perPass := PurgeBatch * PurgeBatchesPerPass
	seedFinished(t, s, perPass+PurgeBatch/2)
	m := New(Config{Owner: "w", LeaseTTL: time.Minute, RescueInterval: time.Second, Retention: time.Hour}, s, clock.NewFake(epoch.Add(2*time.Hour)), zap.NewNop(), &inflight.Set{}, Hooks{})
	before := epoch.Add(time.Hour)
	if n := m.Purge(context.Background(), before); n != perPass {
		t.Fatalf("first pass deleted %d, want %d", n, perPass)
	}
	if n := m.Purge(context.Background(), before); n != PurgeBatch/2 {
		t.Fatalf("second pass deleted %d, want %d", n, PurgeBatch/2)
	}
	if n := m.Purge(context.Background(), before); n != 0 {
		t.Fatalf("third pass deleted %d", n)
	}
	c, err := s.CountByState(context.Background())
	if err != nil || c.Tasks[store.TaskComplete] != 0 {
		t.Fatalf("left %v (%v)", c, err)
	}
}

// BenchmarkClaimDuringPurge measures the latency of one claim and commit
// of a ready step while retention deletes a backlog of finished tasks
// back to back, against the same with no deletion.
//
// On PostgreSQL (TASKER_TEST_POSTGRES_URL; source scripts/postgres.sh)
// too, each run in a fresh schema.
func BenchmarkClaimDuringPurge(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, purging := range []bool{false, true} {
			b.Run(fmt.Sprintf("db=%s/purging=%v", db, purging), func(b *testing.B) { benchClaimDuringPurge(b, db, purging) })
		}
	}
}

func benchClaimDuringPurge(b *testing.B, db string, purging bool) {
	var s store.Store
	if db == "postgres" {
		s = openPostgres(b)
	} else {
		s = openSQLite(b)
	}
	seedFinished(b, s, 50_000)
	m := New(Config{Owner: "w", LeaseTTL: time.Minute, RescueInterval: time.Second, Retention: time.Hour}, s, clock.NewFake(epoch), zap.NewNop(), &inflight.Set{}, Hooks{})
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var deleted atomic.Int64
	if purging {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := m.Purge(ctx, epoch.Add(time.Hour))
				deleted.Add(int64(n))
				if n == 0 {
					return
				}
			}
		})
	}
	now := epoch.Add(2 * time.Hour)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.CreateTask(ctx, &store.CreateTaskParams{Namespace: "t", Name: "new", Kind: store.KindDAG, IdentityKey: fmt.Sprintf("new-%d", i),
			Context: store.JSON(`{}`), Steps: []store.NewStep{{Name: "s", Handler: "h", Retryable: true}}, Now: now}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		got, err := s.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "w", Limit: 1, LeaseTTL: time.Minute, Now: now})
		if err != nil || len(got) != 1 {
			b.Fatalf("claim: %v (%d)", err, len(got))
		}
		if _, err := s.FinishSteps(ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{{Lease: got[0].Step.Lease(), Kind: store.OutcomeComplete, Results: store.JSON(`{}`)}}, Now: now}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	stop()
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(deleted.Load()), "deleted")
}

// With no default retention (Config.Retention 0: keep) the maintenance
// pass still deletes the tasks whose own retention has passed, and only
// those.
func TestMaintainDeletesByOwnRetention(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var s store.Store
			if db == "postgres" {
				s = openPostgres(t)
			} else {
				s = openSQLite(t)
			}
			ctx := context.Background()
			ids := map[time.Duration]int64{}
			for _, keep := range []time.Duration{0, time.Hour, 3 * time.Hour, store.KeepForever} {
				res, err := s.CreateTask(ctx, &store.CreateTaskParams{Namespace: "t", Name: "own", Kind: store.KindDAG, IdentityKey: fmt.Sprintf("own-%d", keep),
					Context: store.JSON(`{}`), Steps: []store.NewStep{{Name: "s", Handler: "h", Retryable: true}}, Now: epoch, Retention: keep})
				if err != nil {
					t.Fatal(err)
				}
				ids[keep] = res.Task.ID
			}
			for _, q := range []string{`UPDATE tasker_steps SET state = 'complete', completed_at = ?`, `UPDATE tasker_tasks SET state = 'complete', completed_at = ?`} {
				if _, err := s.DB().NewRaw(q, epoch).Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			passed := make(chan struct{}, 1)
			m := New(Config{Owner: "w", LeaseTTL: time.Minute, RescueInterval: time.Hour}, s, clock.NewFake(epoch.Add(2*time.Hour)), zap.NewNop(), &inflight.Set{},
				Hooks{Pass: func(context.Context, bool) {
					select {
					case passed <- struct{}{}:
					default:
					}
				}})
			mctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() { m.Maintain(mctx) })
			<-passed
			stop()
			wg.Wait()
			for keep, gone := range map[time.Duration]bool{0: false, time.Hour: true, 3 * time.Hour: false, store.KeepForever: false} {
				_, err := s.GetTask(ctx, ids[keep])
				if got := errors.Is(err, store.ErrNotFound); got != gone {
					t.Errorf("retention %s: deleted %v, want %v (%v)", keep, got, gone, err)
				}
			}
		})
	}
}
