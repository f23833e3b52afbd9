package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store/postgres"
)

// The maintenance leader analyzes tables that outgrew their statistics
// (autovacuum is off on them here), so that the prepared statements'
// plans are made again for their size.
func TestMaintenanceRefreshesPlannerStats(t *testing.T) {
	ctx := context.Background()
	schema := pgtest.NewSchema(t)
	st, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: schema, MaxConns: 4})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	e := newEngine(t, engine.Config{Store: st, Execution: engine.ExecutionConfig{RescueInterval: 50 * time.Millisecond}})
	run(t, e)
	pgtest.GrowTasks(t, schema, 12_000)
	pgtest.WaitFor(t, "tasker_steps analyzed", 20*time.Second, 20*time.Millisecond, func() bool {
		var n float64
		must(t, st.DB().NewRaw("SELECT reltuples FROM pg_class WHERE oid = to_regclass('tasker_steps')").Scan(ctx, &n))
		return n >= 12_000
	})
}
