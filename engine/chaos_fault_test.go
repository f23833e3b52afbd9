package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/faultstore"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
)

// openChaosStore opens a fresh store on db ("sqlite": a file; "postgres":
// a schema of its own).
func openChaosStore(t *testing.T, db string) store.Store {
	t.Helper()
	ctx := context.Background()
	var s store.Store
	var err error
	switch db {
	case "sqlite":
		s, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "chaos.db"), nil)
	default:
		url, schema := pgtest.URL(t), pgtest.NewSchema(t)
		s, err = postgres.Open(ctx, url, &postgres.Options{Schema: schema})
	}
	must(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// chaosConfig: short leases, so a lost claim is rescued within a second.
func chaosConfig(s store.Store, worker string) engine.Config {
	return engine.Config{Store: s, WorkerID: worker, Execution: engine.ExecutionConfig{
		LeaseTTL: time.Second, RescueInterval: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond, MaxConcurrency: 8, BatchSize: 8}}
}

// The scenarios of lost replies (a store call commits, the engine sees an
// error) on each method run in internal/chaos (TestQuick), on both
// databases.

// A sender whose reply was lost sends the event again after the workflow
// has consumed it and finished: the repeat is accepted (not new); a new
// event to the finished task is still refused and not recorded.
func TestSendEventRepeatAfterFinish(t *testing.T) {
	ctx := context.Background()
	s := openChaosStore(t, "sqlite")
	e := newEngine(t, chaosConfig(s, "w"))
	l := newLedger()
	chaosWork(t, e, l)
	ids := startChaos(t, e, 0, 1, false)
	for range 10 {
		if _, err := e.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	checkChaos(t, s, l, ids)
	created, err := e.SendEvent(ctx, ids[0], "paid", "pay-0", 0)
	if err != nil || created {
		t.Fatalf("repeat of a received event: created %v, err %v; want not new, no error", created, err)
	}
	if _, err := e.SendEvent(ctx, ids[0], "paid", "pay-other", 0); !errors.Is(err, engine.ErrEventRefused) {
		t.Fatalf("new event to a finished task: %v, want ErrEventRefused", err)
	}
	if _, err := s.ConsumeEvent(ctx, &store.ConsumeEventParams{TaskID: ids[0], Name: "paid"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused event was recorded: consume gave %v", err)
	}
}

// A completion whose commit went through but whose reply was lost is
// retried; the retry finds the lease gone because the first try recorded
// it. The engine reports the completion (counted once, task completed
// event), not a discarded result.
func TestLostFinishReplyCountsAsCompleted(t *testing.T) {
	ctx := context.Background()
	inner := openChaosStore(t, "sqlite")
	fs, err := faultstore.New(inner, 1, faultstore.Rule{Method: "FinishSteps", Nth: 1, Action: faultstore.FailAfter})
	must(t, err)
	e := newEngine(t, chaosConfig(fs.Wrap(), "w"))
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return "ok", nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "one", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}))
	events, unsubscribe := e.Subscribe(16)
	defer unsubscribe()
	h, err := e.Start(ctx, "t/one", nil)
	must(t, err)
	if n, err := e.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("ran %d: %v", n, err)
	}
	if got := fs.Injected(); len(got) != 1 {
		t.Fatalf("injected %v, want the first finish", got)
	}
	st := e.Stats()
	if st.StepsCompleted != 1 || st.ResultsDiscarded != 0 {
		t.Fatalf("stats: %d completed, %d discarded; want 1 and 0", st.StepsCompleted, st.ResultsDiscarded)
	}
	seen := map[string]int{}
	for len(events) > 0 {
		seen[(<-events).Name]++
	}
	if seen[engine.EventTaskCompleted] != 1 || seen[engine.EventStepCompleted] != 1 || seen[engine.EventStepDiscarded] != 0 {
		t.Fatalf("events %v; want one step completed and one task completed, nothing discarded", seen)
	}
	if d, err := inner.GetTask(ctx, h.TaskID); err != nil || d.Task.State != store.TaskComplete {
		t.Fatalf("task: %v %v", d, err)
	}
}
