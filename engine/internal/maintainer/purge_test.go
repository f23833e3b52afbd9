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

// A pass deletes at most PurgePerPass tasks; the next pass goes on (a
// tenth of it here, so that it takes a tenth of the rows).
func TestPurgeIsBoundedPerPass(t *testing.T) {
	s := openSQLite(t)
	perPass := PurgePerPass / 10
	seedFinished(t, s, perPass+PurgeBatch/2)
	// Batches of PurgeBatch at once (under -race the 5 ms target would
	// make them small and the test long).
	m := New(Config{Owner: "w", LeaseTTL: time.Minute, RescueInterval: time.Second, Retention: time.Hour, PurgeBatchTime: time.Hour},
		s, clock.NewFake(epoch.Add(2*time.Hour)), zap.NewNop(), &inflight.Set{}, Hooks{})
	m.batch.Store(PurgeBatch)
	m.purgePerPass = perPass
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
	const seeded = 50_000
	seedFinished(b, s, seeded)
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
	began := time.Now()
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
	elapsed := time.Since(began)
	var left []int
	if err := s.DB().NewRaw(`SELECT count(*) FROM tasker_tasks WHERE name = 'old'`).Scan(context.Background(), &left); err != nil {
		b.Fatal(err)
	}
	gone := seeded - left[0] // deleted while the claims ran
	stop()
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(deleted.Load()), "deleted")
	b.ReportMetric(float64(gone)/elapsed.Seconds(), "deleted/s")
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

// On a single-writer store the batch follows PurgeBatchTime: halved after
// a slow batch, grown by a quarter after a quick one, bounded.
func TestPurgeBatchSizing(t *testing.T) {
	m := &Maintainer{}
	if got := m.purgeSize(); got != PurgeBatch/4 {
		t.Fatalf("first batch %d, want %d", got, PurgeBatch/4)
	}
	for _, c := range []struct {
		size int
		took time.Duration
		want int
	}{
		{50, 2 * PurgeBatchTime, 25},                    // slow: halve
		{50, PurgeBatchTime, 50},                        // on target: keep
		{50, PurgeBatchTime * 3 / 4, 50},                // within the band: keep
		{50, PurgeBatchTime / 4, 62},                    // quick: +25 %
		{PurgeMinBatch, time.Second, PurgeMinBatch},     // never below the floor
		{PurgeBatch, time.Microsecond, PurgeBatch},      // nor above the ceiling
		{PurgeMinBatch + 1, time.Second, PurgeMinBatch}, // halving stops at the floor
		{3, 0, PurgeMinBatch},                           // +1 at least, then the floor
	} {
		m.adjustPurge(c.size, c.took, PurgeBatchTime)
		if got := m.purgeSize(); got != c.want {
			t.Errorf("size %d took %s: next %d, want %d", c.size, c.took, got, c.want)
		}
	}
}
