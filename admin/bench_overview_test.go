package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// BenchmarkOverviewPage renders the dashboard's overview (counts, charts,
// lag, workers, failures) from a database of TASKER_BENCH_TASKS tasks
// (default 1,000,000; rows only), each with its end among the task
// transitions (its creation is implied by its row, as the engine leaves
// it), spread over the last 48 hours: the charts' window of the last hour
// reads about 1/48 of the transitions, found by the binary search on their
// ids, and of the tasks, by their created_at index.
//
//	go test -run '^$' -bench OverviewPage ./admin/
func BenchmarkOverviewPage(b *testing.B) {
	n := benchTasks(b)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	// Task i was created at 48h · i/n after t0 and ended a second later
	// (10% in error, the rest complete); ids grow with time, as they do in
	// use.
	now := time.Now().UTC()
	t0 := now.Add(-48 * time.Hour)
	stamp := func(t time.Time) string { return t.Format("2006-01-02 15:04:05.000000-07:00") }
	span := 48 * 3600.0 / float64(n)
	for _, q := range []string{
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO tasker_tasks (namespace, name, version, kind, identity_key, state, transition_seq, created_at, updated_at)
		SELECT 'bench', 'wf' || (i % 5), '1.0.0', 'dag', 'k' || i, CASE i % 10 WHEN 0 THEN 'error' ELSE 'complete' END, 2,
			strftime('%Y-%m-%d %H:%M:%f+00:00', ?, '+' || (i * ?) || ' seconds'), strftime('%Y-%m-%d %H:%M:%f+00:00', ?, '+' || (i * ?) || ' seconds') FROM n`,
		// In time order, as an append-only table fills.
		`INSERT INTO tasker_task_transitions (task_id, from_state, to_state, sort_key, created_at)
		SELECT id, 'in_progress', state, 2, strftime('%Y-%m-%d %H:%M:%f+00:00', created_at, '+1 seconds') FROM tasker_tasks
		ORDER BY 5, 1`,
	} {
		args := []any{n, stamp(t0), span, stamp(t0), span}
		if !strings.Contains(q, "RECURSIVE") {
			args = nil
		}
		if _, err := st.DB().ExecContext(ctx, q, args...); err != nil {
			b.Fatal(err)
		}
	}
	e, err := engine.New(engine.Config{Store: st, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	h, err := admin.Handler(admin.Config{Engine: e})
	if err != nil {
		b.Fatal(err)
	}
	secret, _, err := admin.CreateToken(ctx, st, "bench", store.RoleViewer)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("TaskActivity-1h", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.TaskActivity(ctx, &store.TaskActivityParams{Since: now.Add(-time.Hour), Width: time.Minute, Buckets: 60}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("TaskActivity-1m", func(b *testing.B) { // the binary search and little else
		for b.Loop() {
			if _, err := st.TaskActivity(ctx, &store.TaskActivityParams{Since: now.Add(-time.Minute), Width: time.Minute, Buckets: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CountByState", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.CountByState(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	latest := fmt.Sprintf(`href="tasks/%d"`, n/10*10) // the task that failed last
	for _, rng := range []string{"1h", "24h"} {
		b.Run(rng, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", "/ui/?range="+rng, nil)
				req.AddCookie(&http.Cookie{Name: "tasker_session", Value: secret})
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-total="throughput"`) || !strings.Contains(rec.Body.String(), latest) {
					b.Fatalf("%d %.300s", rec.Code, rec.Body)
				}
			}
		})
	}
}
