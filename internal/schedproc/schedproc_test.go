package schedproc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store/postgres"
)

func openStore(t *testing.T, schema string) *postgres.Store { return pgtest.Open(t, schema, 4) }

// waitFor polls a database condition until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	pgtest.WaitFor(t, what, timeout, 50*time.Millisecond, cond)
}

// run is a task a schedule started.
type run struct {
	tick    time.Time
	state   string
	created time.Time
}

// runs returns the runs of schedule id by tick, failing the test when a
// tick has more than one.
func runs(t *testing.T, s *postgres.Store, id string) []run {
	t.Helper()
	var rows []struct {
		IdentityKey string    `bun:"identity_key"`
		State       string    `bun:"state"`
		CreatedAt   time.Time `bun:"created_at"`
	}
	if err := s.DB().NewRaw("SELECT identity_key, state, created_at FROM tasker_tasks").Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	var out []run
	for _, r := range rows {
		_, at, ok := strings.Cut(r.IdentityKey, ":schedule:"+id+"@")
		if !ok {
			continue
		}
		tick, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			t.Fatalf("task identity %q: %v", r.IdentityKey, err)
		}
		out = append(out, run{tick: tick, state: r.State, created: r.CreatedAt})
	}
	slices.SortFunc(out, func(a, b run) int { return a.tick.Compare(b.tick) })
	for i := 1; i < len(out); i++ {
		if out[i].tick.Equal(out[i-1].tick) {
			t.Fatalf("schedule %s: tick %s started twice", id, out[i].tick)
		}
	}
	return out
}

// contiguous fails the test unless the runs are one per second, no tick
// missing.
func contiguous(t *testing.T, id string, rs []run) {
	t.Helper()
	for i := 1; i < len(rs); i++ {
		if gap := rs[i].tick.Sub(rs[i-1].tick); gap != time.Second {
			t.Fatalf("schedule %s: %s between the runs of %s and %s: ticks missing", id, gap, rs[i-1].tick.Format(time.TimeOnly), rs[i].tick.Format(time.TimeOnly))
		}
	}
}

func finished(t *testing.T, s *postgres.Store, ids ...string) bool {
	for _, id := range ids {
		for _, r := range runs(t, s, id) {
			if r.state != "complete" && r.state != "cancelled" {
				return false
			}
		}
	}
	return true
}

func leader(s *postgres.Store) string {
	var owners []string
	_ = s.DB().NewRaw("SELECT owner FROM tasker_leaders WHERE name = 'schedules' AND expires_at > now()").Scan(context.Background(), &owners)
	if len(owners) == 0 {
		return ""
	}
	return strings.Split(owners[0], "#")[0] // the worker id, without the engine's suffix
}

// declare returns an engine that declares and operates schedules (it runs
// no workers).
func declare(t *testing.T, s *postgres.Store) *engine.Engine {
	t.Helper()
	e, err := engine.New(config(s, "declarer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := register(e); err != nil {
		t.Fatal(err)
	}
	return e
}

// A schedule of 1-second ticks fired by three processes for two minutes,
// its leader killed with SIGKILL midway: every tick starts exactly one
// run, none is missing, and every run completes.
func TestEveryTickOnceAcrossALeaderKill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := pgtest.NewSchema(t)
	s := openStore(t, schema)
	decl := declare(t, s)
	workers := map[string]*child{}
	for i := range 3 {
		id := fmt.Sprintf("w%d", i+1)
		workers[id] = spawn(t, schema, id)
		workers[id].expect(t, "ready")
	}
	info, err := decl.Schedule(ctx, "every-second", "@every 1s", "sp/tick", "tick", engine.ScheduleOptions{Overlap: engine.OverlapAllowAll})
	if err != nil {
		t.Fatal(err)
	}
	first := info.NextFireAt
	count := func() int { return len(runs(t, s, "every-second")) }
	waitFor(t, "the first minute of ticks", 2*time.Minute, func() bool { return count() >= 60 })
	killed := leader(s)
	w, ok := workers[killed]
	if !ok {
		t.Fatalf("the schedules' leader is %q, not a worker", killed)
	}
	w.kill(t)
	delete(workers, killed)
	killedAt := time.Now()
	waitFor(t, "another worker to lead", 30*time.Second, func() bool { l := leader(s); return l != "" && l != killed })
	t.Logf("%s killed at %s; %s leads after %s", killed, killedAt.Format(time.TimeOnly), leader(s), time.Since(killedAt).Round(time.Millisecond))
	waitFor(t, "the second minute of ticks", 2*time.Minute, func() bool { return count() >= 120 })
	if err := decl.PauseSchedule(ctx, "every-second"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every run to finish", time.Minute, func() bool { return finished(t, s, "every-second") })
	for _, w := range workers {
		w.stop(t)
	}

	rs := runs(t, s, "every-second")
	if len(rs) < 120 || !rs[0].tick.Equal(first) {
		t.Fatalf("%d runs from %s; want at least 120 from the first tick %s", len(rs), rs[0].tick, first)
	}
	contiguous(t, "every-second", rs)
	late := time.Duration(0)
	for _, r := range rs {
		if r.state != "complete" && r.tick.Before(rs[len(rs)-1].tick) {
			t.Fatalf("the run of %s is %s", r.tick, r.state)
		}
		late = max(late, r.created.Sub(r.tick))
	}
	t.Logf("%d ticks, each started once; the latest started %s after its tick", len(rs), late.Round(time.Millisecond))
}

// All three processes are down for 10 s, then three start again: the
// ticks missed fire per the schedule's policy — all of them (allow all,
// window of an hour), only those within a 3-second window, or only the
// last (cancel previous) — and the ticks go on one a second.
func TestCatchUpAfterDowntime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := pgtest.NewSchema(t)
	s := openStore(t, schema)
	decl := declare(t, s)
	var workers []*child
	for i := range 3 {
		workers = append(workers, spawn(t, schema, fmt.Sprintf("a%d", i+1)))
		workers[i].expect(t, "ready")
	}
	schedules := map[string]engine.ScheduleOptions{
		"all":    {Overlap: engine.OverlapAllowAll},
		"window": {Overlap: engine.OverlapAllowAll, CatchUpWindow: 3 * time.Second},
		"cancel": {Overlap: engine.OverlapCancelPrevious},
	}
	ids := []string{"all", "window", "cancel"}
	for id, opts := range schedules {
		if _, err := decl.Schedule(ctx, id, "@every 1s", "sp/tick", id, opts); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "five ticks of each schedule", time.Minute, func() bool {
		for _, id := range ids {
			if len(runs(t, s, id)) < 5 {
				return false
			}
		}
		return true
	})
	for _, w := range workers {
		w.kill(t)
	}
	down := time.Now()
	// The scenario: ten seconds with no process running.
	time.Sleep(10 * time.Second)
	restart := time.Now()
	workers = workers[:0]
	for i := range 3 {
		workers = append(workers, spawn(t, schema, fmt.Sprintf("b%d", i+1)))
		workers[i].expect(t, "ready")
	}
	waitFor(t, "each schedule to fire 5 s past the restart", time.Minute, func() bool {
		for _, id := range ids {
			rs := runs(t, s, id)
			if len(rs) == 0 || rs[len(rs)-1].tick.Before(restart.Add(5*time.Second)) {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		if err := decl.PauseSchedule(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every run to finish", time.Minute, func() bool { return finished(t, s, ids...) })
	for _, w := range workers {
		w.stop(t)
	}

	for _, id := range ids {
		rs := runs(t, s, id)
		// last before the downtime, first after it
		i := slices.IndexFunc(rs, func(r run) bool { return r.tick.After(down) })
		if i <= 0 {
			t.Fatalf("schedule %s: runs %d, none before or none after the downtime", id, len(rs))
		}
		contiguous(t, id, rs[:i])
		contiguous(t, id, rs[i:])
		last, next := rs[i-1].tick, rs[i].tick
		t.Logf("schedule %s: last tick before the downtime %s, first after %s (down %s, restart %s)", id,
			last.Format(time.TimeOnly), next.Format(time.TimeOnly), down.Format(time.TimeOnly), restart.Format(time.TimeOnly))
		switch id {
		case "all": // every tick, the missed ones late
			if next.Sub(last) != time.Second {
				t.Fatalf("allow all: ticks from %s to %s missing", last, next)
			}
		case "window": // only ticks at most 3 s older than the first pass after the restart
			if next.Before(restart.Add(-3 * time.Second)) {
				t.Fatalf("window: the tick %s fired, older than the 3 s window before the restart %s", next, restart)
			}
		case "cancel": // only the last tick due at the first pass
			if !next.After(restart.Add(-time.Second)) {
				t.Fatalf("cancel previous: the tick %s fired, not the last one due after the restart %s", next, restart)
			}
		}
	}
}
