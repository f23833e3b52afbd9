package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/faultstore"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store/postgres"
)

// An engine whose election renewed its leadership but lost the reply (it
// cannot tell whether it leads) still gives the leadership up when it
// stops: another process takes over at its next election, not three
// intervals later.
func TestStopResignsALeadershipItMayHold(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t)})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	// Every election commits, and its caller sees an error.
	lost, err := faultstore.New(s, 1, faultstore.Rule{Method: "Elect", Action: faultstore.FailAfter})
	must(t, err)
	e := newEngine(t, engine.Config{Store: lost, WorkerID: "unsure", Execution: engine.ExecutionConfig{
		RescueInterval: time.Hour, ScheduleInterval: time.Hour, PollInterval: time.Hour}})
	done, err := e.RunBackground(ctx)
	must(t, err)
	// Read, not an election of another owner: one taken while the
	// engine's first election ran made it lose, and it elects again only
	// an interval (an hour) later.
	held := func(name string) bool {
		var n int
		must(t, s.DB().NewRaw("SELECT count(*) FROM tasker_leaders WHERE name = ? AND owner LIKE 'unsure#%' AND expires_at > now()", name).Scan(ctx, &n))
		return n > 0
	}
	waitFor(t, "both elections", func() bool { return held("maintenance") && held("schedules") })
	must(t, e.Stop(ctx))
	must(t, <-done)
	for _, name := range []string{"maintenance", "schedules"} {
		if held(name) {
			t.Errorf("after the engine stopped, the %s leadership it may hold is still held (for three intervals, an hour each)", name)
		}
	}
}
