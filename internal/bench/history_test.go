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
	// The statistics must be this test's: an autovacuum ANALYZE woken by
	// the seeding, landing after the starts below, counted the 1,000
	// ready steps and made a hash join the cheaper plan (seen under the
	// whole suite's load).
	if _, err := r.st.DB().ExecContext(ctx, "ALTER TABLE tasker_tasks SET (autovacuum_enabled = off); ALTER TABLE tasker_steps SET (autovacuum_enabled = off)"); err != nil {
		t.Fatal(err)
	}
	if err := seedHistory(ctx, r.st.DB(), true, 20_000); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.DB().ExecContext(ctx, "ANALYZE tasker_tasks; ANALYZE tasker_steps"); err != nil {
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
