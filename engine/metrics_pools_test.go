package engine_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
)

// The pool metrics report every pool of a running engine's store,
// labelled: on an SQLite file, the writer's one connection (pool
// "primary") and the read pool ("read") that serves the store's reads —
// they reported the writer alone; on Postgres, its one pool (primary).
func TestPoolMetricsReportEachPool(t *testing.T) {
	ctx := context.Background()
	pg, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t)})
	must(t, err)
	t.Cleanup(func() { pg.Close() })
	for _, c := range []struct {
		name  string
		st    store.Store
		pools []string
	}{{"sqlite", openSQLite(t), []string{"primary", "read"}}, {"postgres", pg, []string{"primary"}}} {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := engine.NewMetrics()
			reg.MustRegister(m)
			e := newEngine(t, engine.Config{Store: c.st, Metrics: m, WorkerID: "w"})
			must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
			run(t, e)
			// A read leaves its pool a connection, in use or idle (on
			// SQLite; Postgres' pool may close it meanwhile).
			if _, err := c.st.ListTasks(ctx, &store.ListTasksParams{Limit: 1}); err != nil {
				t.Fatal(err)
			}
			for _, pool := range []string{"primary", "read"} {
				want := pool == "primary" || len(c.pools) == 2
				conns, ok := metricValue(t, reg, "tasker_pool_connections", map[string]string{"worker": "w", "pool": pool})
				_, waits := metricValue(t, reg, "tasker_pool_waits_total", map[string]string{"worker": "w", "pool": pool})
				_, waited := metricValue(t, reg, "tasker_pool_wait_seconds_total", map[string]string{"worker": "w", "pool": pool})
				switch {
				// SQLite's pools keep their connections open; a Postgres
				// pool may have closed an idle one by the time it is read.
				case want && (!ok || c.name == "sqlite" && conns < 1 || !waits || !waited):
					t.Errorf("pool %q: connections %v (exported: %v), waits exported: %v, wait seconds: %v; want all exported, at least one connection", pool, conns, ok, waits, waited)
				case !want && (ok || waits || waited):
					t.Errorf("pool %q exported for a store that has none", pool)
				}
			}
		})
	}
}
