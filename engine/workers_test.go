package engine_test

import (
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/testkit"
)

// waitFor waits until cond holds: a condition on state another goroutine
// changes (no sleep: it yields between looks), failing after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// A running engine is in the registry with what it serves from the moment
// RunBackground returns, its heartbeat refreshes the record (with handlers
// registered since), and Stop removes it.
func TestWorkerRegistryFollowsTheRun(t *testing.T) {
	const ttl = 30 * time.Second
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{WorkerID: "host-7", Version: "v2.1.0",
		Execution: engine.ExecutionConfig{LeaseTTL: ttl, MaxConcurrency: 4, Queues: []string{"eu", "default"}, PollInterval: time.Hour, RescueInterval: time.Hour,
			TuneInterval: time.Hour, ScheduleInterval: time.Hour}}})
	ctx := context.Background()
	noop := func(sc *engine.StepContext) (any, error) { return nil, nil }
	must(t, env.HandleFunc("h.a", noop))
	must(t, engine.RegisterWorkflow(env.Engine, "shop/order", func(wctx *engine.WorkflowContext, in struct{}) (string, error) { return "ok", nil }))
	workers := func() []engine.WorkerInfo {
		t.Helper()
		ws, err := env.Workers(ctx)
		must(t, err)
		return ws
	}
	if ws := workers(); len(ws) != 0 {
		t.Fatalf("before Run the registry lists %+v", ws)
	}

	start := env.Clock.Now()
	done, err := env.RunBackground(ctx)
	must(t, err)
	ws := workers()
	if len(ws) != 1 {
		t.Fatalf("while running the registry lists %d workers, want this one", len(ws))
	}
	w := ws[0]
	if w.ID != "host-7" || w.Version != "v2.1.0" || w.Concurrency != 4 || !slices.Equal(w.Queues, []string{"eu", "default"}) ||
		!slices.Equal(w.Handlers, []string{"h.a", "workflow:shop/order"}) {
		t.Fatalf("registered %+v", w)
	}
	if !w.StartedAt.Equal(start) || !w.HeartbeatAt.Equal(start) || !w.ExpiresAt.Equal(start.Add(engine.WorkerTTLFactor*ttl)) {
		t.Fatalf("started %s, heartbeat %s, expires %s; want %s, %s, %s", w.StartedAt, w.HeartbeatAt, w.ExpiresAt, start, start, start.Add(3*ttl))
	}

	// A heartbeat (every third of the lease TTL) refreshes the record,
	// with no step running, and picks up a handler registered since.
	must(t, env.HandleFunc("h.late", noop))
	// The claim loop, the maintenance, the tuning and the schedules wait an
	// hour: the earliest timer is the heartbeat's, once it is armed.
	beat := start.Add(ttl / 3)
	waitFor(t, "the heartbeat's timer", func() bool { next, ok := env.Clock.Next(); return ok && next.Equal(beat) })
	env.Clock.Advance(ttl / 3)
	waitFor(t, "a heartbeat", func() bool { return workers()[0].HeartbeatAt.Equal(beat) })
	w = workers()[0]
	if !w.HeartbeatAt.Equal(beat) || !w.ExpiresAt.Equal(beat.Add(3*ttl)) || !w.StartedAt.Equal(start) {
		t.Fatalf("after a heartbeat: started %s, heartbeat %s, expires %s; want %s, %s, %s", w.StartedAt, w.HeartbeatAt, w.ExpiresAt, start, beat, beat.Add(3*ttl))
	}
	if !slices.Contains(w.Handlers, "h.late") {
		t.Fatalf("the refreshed record serves %v, without the handler registered after Run started", w.Handlers)
	}

	// A record not refreshed for three lease TTLs has expired: a crashed
	// process drops out of the listing.
	_, err = env.Store.RegisterWorker(ctx, &store.RegisterWorkerParams{ID: "crashed-1", Handlers: []string{"h.a"}, TTL: engine.WorkerTTLFactor * ttl, Now: env.Clock.Now()})
	must(t, err)
	if ids := workerIDs(workers()); !slices.Equal(ids, []string{"crashed-1", "host-7"}) {
		t.Fatalf("live workers %v", ids)
	}
	must(t, env.Stop(ctx))
	must(t, <-done)
	if ids := workerIDs(workers()); !slices.Equal(ids, []string{"crashed-1"}) {
		t.Fatalf("after Stop the registry lists %v; want only the other worker", ids)
	}
	env.Clock.Advance(engine.WorkerTTLFactor * ttl)
	if ws := workers(); len(ws) != 0 {
		t.Fatalf("three lease TTLs without a heartbeat, the registry still lists %+v", ws)
	}
}

func workerIDs(ws []engine.WorkerInfo) []string {
	var ids []string
	for _, w := range ws {
		ids = append(ids, w.ID)
	}
	return ids
}

// Two engines of one process on one database, neither naming itself, are
// two workers: each has its own registry record (with its own handlers),
// and the one that stops leaves the other's in place.
func TestTwoEnginesOfAProcessAreTwoWorkers(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "w.db"), nil)
	must(t, err)
	t.Cleanup(func() { s.Close() })
	noop := func(*engine.StepContext) (any, error) { return nil, nil }
	var es [2]*engine.Engine
	var dones [2]<-chan error
	for i, h := range []string{"h.one", "h.two"} {
		e, err := engine.New(engine.Config{Store: s, Execution: engine.ExecutionConfig{PollInterval: time.Hour}})
		must(t, err)
		must(t, e.HandleFunc(h, noop))
		dones[i], err = e.RunBackground(ctx)
		must(t, err)
		es[i] = e
	}
	t.Cleanup(func() {
		for i, e := range es {
			_ = e.Stop(ctx)
			<-dones[i]
		}
	})
	ws, err := es[0].Workers(ctx)
	must(t, err)
	if len(ws) != 2 || ws[0].ID == ws[1].ID {
		t.Fatalf("two running engines are listed as %+v; want two workers", ws)
	}
	handlers := append(slices.Clone(ws[0].Handlers), ws[1].Handlers...)
	slices.Sort(handlers)
	if !slices.Equal(handlers, []string{"h.one", "h.two"}) {
		t.Fatalf("the registry serves %v; want h.one and h.two", handlers)
	}
	must(t, es[0].Stop(ctx))
	must(t, <-dones[0])
	dones[0] = closedDone()
	ws, err = es[1].Workers(ctx)
	must(t, err)
	if len(ws) != 1 || !slices.Equal(ws[0].Handlers, []string{"h.two"}) {
		t.Fatalf("after one engine stopped the registry lists %+v; want the other, serving h.two", ws)
	}
}

// closedDone is a run's result channel for a run already waited for.
func closedDone() <-chan error {
	ch := make(chan error, 1)
	ch <- nil
	return ch
}

// Two processes given the same WorkerID (a copied configuration): the
// registry keeps the record of the one that registered last, and the
// other neither takes it back at its heartbeats (it logs why it is not
// listed) nor deletes it when it stops.
func TestSameWorkerIDKeepsTheNewestRecord(t *testing.T) {
	const ttl = 30 * time.Second
	x := engine.ExecutionConfig{LeaseTTL: ttl, PollInterval: time.Hour, RescueInterval: time.Hour, TuneInterval: time.Hour, ScheduleInterval: time.Hour}
	core, logs := observer.New(zap.WarnLevel)
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{WorkerID: "copied-id", Version: "old", Execution: x, Logger: zap.New(core)}})
	ctx := context.Background()
	version := func() string {
		t.Helper()
		ws, err := env.Workers(ctx)
		must(t, err)
		if len(ws) != 1 {
			t.Fatalf("the registry lists %+v; want one worker", ws)
		}
		return ws[0].Version
	}
	oldDone, err := env.RunBackground(ctx)
	must(t, err)
	beat := env.Clock.Now().Add(ttl / 3)
	waitFor(t, "the heartbeat's timer", func() bool { next, ok := env.Clock.Next(); return ok && next.Equal(beat) })
	env.Clock.Advance(time.Second)
	newer, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock, WorkerID: "copied-id", Version: "new", Execution: x, Logger: zap.NewNop()})
	must(t, err)
	run(t, newer)
	if v := version(); v != "new" {
		t.Fatalf("after the second process started the record is %q's", v)
	}

	// The older process's heartbeat finds the record taken and says so.
	env.Clock.Advance(ttl / 3)
	waitFor(t, "the older process's warning", func() bool {
		return logs.FilterField(zap.String("worker", "copied-id")).FilterMessageSnippet("same WorkerID").Len() > 0
	})
	if v := version(); v != "new" {
		t.Fatalf("after a heartbeat of the older process the record is %q's", v)
	}

	must(t, env.Stop(ctx))
	must(t, <-oldDone)
	if v := version(); v != "new" {
		t.Fatalf("after the older process stopped the record is %q's", v)
	}
}
