package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
)

// A repeat of an event that moved, unread, to the run continuing its task
// is found along the chain by reading it: it was found by sending it to
// each later run and rolling back, which on PostgreSQL waited for any
// transaction holding a later run's events (a send to the last run, here
// held open) and used up an event id per run. The repeat now returns at
// once, not new, using no id but its own send's.
func TestRepeatAlongTheChainReadsIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := pgtest.Open(t, pgtest.NewSchema(t), 4)
	e, err := engine.New(engine.Config{Store: s})
	must(t, err)
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	must(t, engine.RegisterWorkflow(e, "t/later", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in < 1 { // the tick moves on
			return 0, engine.ContinueAsNew(wctx, in+1)
		}
		return engine.WaitEvent[int](wctx, "tick", time.Hour)
	}))
	h, err := engine.StartWorkflow[int, int](ctx, e, "t/later", 0)
	must(t, err)
	if created, err := e.SendEvent(ctx, h.TaskID, "tick", "k", 5); err != nil || !created {
		t.Fatalf("the first send: new %v, %v", created, err)
	}
	_, err = e.RunOnce(ctx) // the first run continues; the tick moves on
	must(t, err)
	r, err := e.Runs(ctx, h.TaskID)
	must(t, err)
	if r.ContinuedAs == 0 {
		t.Fatal("the first run did not continue as new")
	}

	hold, err := s.DB().BeginTx(ctx, nil)
	must(t, err)
	defer hold.Rollback()
	if _, _, err := s.WithTx(hold).SendEvent(ctx, &store.SendEventParams{TaskID: r.ContinuedAs, Name: "other", Key: "held"}); err != nil {
		t.Fatal(err)
	}
	done := sendWhileHeld(ctx, t, s, e, h.TaskID, "tick", 5, hold)
	if len(done) == 0 {
		must(t, hold.Rollback())
		t.Fatalf("the repeat waited for a transaction holding the next run's events: %+v", <-done)
	}
	if got := <-done; got.err != nil || got.created {
		t.Fatalf("the repeat to the first run: new %v, %v; want not new and no error", got.created, got.err)
	}
	must(t, hold.Rollback())

	var last int64
	must(t, s.DB().NewRaw("SELECT max(id) FROM tasker_events").Scan(ctx, &last))
	ev, created, err := s.SendEvent(ctx, &store.SendEventParams{TaskID: r.ContinuedAs, Name: "tick", Key: "next"})
	if err != nil || !created {
		t.Fatalf("a new event to the last run: %v, %v", created, err)
	}
	// The held send, the repeat's own send to the first run (rolled back)
	// and this one used an id each; the search along the chain none.
	if ev.ID != last+3 {
		t.Errorf("the next event's id is %d, the last was %d: the search along the chain used %d ids, want none", ev.ID, last, ev.ID-last-3)
	}
}
