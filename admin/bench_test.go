package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// BenchmarkAPIListTasks lists 100 tasks through the admin API (handler,
// SQLite file, JSON) from a database of TASKER_BENCH_TASKS tasks (default
// 1,000,000; seeded once, rows only) — the newest page, a filtered one
// and a page deep in the keyset.
//
//	go test -run '^$' -bench APIListTasks ./admin/
func BenchmarkAPIListTasks(b *testing.B) {
	n := benchTasks(b)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	// Rows only (listing reads tasks, not steps): 5 workflows, 10% in
	// error, 10% pending, the rest complete.
	_, err = st.DB().ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO tasker_tasks (namespace, name, version, kind, identity_key, state, created_at, updated_at)
		SELECT 'bench', 'wf' || (i % 5), '1.0.0', 'dag', 'k' || i,
			CASE i % 10 WHEN 0 THEN 'error' WHEN 1 THEN 'pending' ELSE 'complete' END,
			'2026-11-28 00:00:00.000000+00:00', '2026-11-28 00:00:00.000000+00:00' FROM n`, n)
	if err != nil {
		b.Fatal(err)
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
	for _, c := range []struct{ name, query string }{
		{"newest", "limit=100"},
		{"state=error", "limit=100&state=error"},
		{"workflow", "limit=100&workflow=bench/wf3"},
		{"deep-cursor", "limit=100&cursor=" + strconv.Itoa(n/2)},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", "/api/tasks?"+c.query, nil)
				req.Header.Set("Authorization", "Bearer "+secret)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// benchTasks is TASKER_BENCH_TASKS, default 1,000,000.
func benchTasks(b *testing.B) int {
	n := 1_000_000
	if v := os.Getenv("TASKER_BENCH_TASKS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("TASKER_BENCH_TASKS=%q: want a number of at least 1000", v)
		}
	}
	return n
}
