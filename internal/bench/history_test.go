package bench

import (
	"context"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/internal/pgtest"
)

// With a long history analysed (statistics say unfinished tasks are rare)
// and ready work waiting, the claim's pick on PostgreSQL looks each step's
// task up by its primary key, not by walking tasker_tasks_state for every
// step (the cause of E7's 0.77 ratio; see the claim in
// store/internal/bunstore). The seeding is the experiment's.
func TestClaimPlanWithHistoryOnPostgres(t *testing.T) {
	ctx := context.Background()
	url := pgDSN(pgtest.URL(t))
	tg := &benchTarget{pgURL: url, schema: pgtest.NewSchema(t), procs: 1}
	def, err := benchSpec("W1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRig(ctx, tg, def, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.close(ctx, nil) })
	// The statistics must be this test's, taken before the starts below.
	// An ANALYZE after them (counting the 1,000 ready steps) makes another
	// plan the cheaper one. Two came now and then under the whole suite's
	// load: autovacuum's, woken by the seeding, and the store's own
	// (RefreshStats), when the seeding's row counts reached the statistics
	// system after the ANALYZE below (a backend reports them at most once
	// a second), so the tables looked changed since. Hence autovacuum off,
	// and the seeding's counts flushed before the ANALYZE.
	conn, err := r.st.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "ALTER TABLE tasker_tasks SET (autovacuum_enabled = off); ALTER TABLE tasker_steps SET (autovacuum_enabled = off)"); err != nil {
		t.Fatal(err)
	}
	if err := seedHistory(ctx, conn, true, 20_000); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "ANALYZE tasker_tasks; ANALYZE tasker_steps"); err != nil {
		t.Fatal(err)
	}
	if err := startAll(ctx, r, def, 1000); err != nil {
		t.Fatal(err)
	}
	plan, err := claimPlan(ctx, r.st.DB(), claimTaskFilter)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "\n")
	if !strings.Contains(joined, "tasker_tasks_pkey") || strings.Contains(joined, "tasker_tasks_state") {
		t.Fatalf("the claim's pick does not look tasks up by id:\n%s", joined)
	}
	if old, err := claimPlan(ctx, r.st.DB(), "t.state IN ('pending', 'in_progress')"); err == nil {
		t.Logf("for comparison, the pick with IN the unfinished states:\n%s", strings.Join(old, "\n"))
	}
}
