package storetest

import (
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testWakeHoldsAReadyDriver: a send's WakeTask holds the task's driver
// when it is pending and ready too, not only while it runs, until the
// send's transaction ends. It held only a running one: a ready driver was
// claimed while the send was still open, the run (which could not see the
// uncommitted event) suspended waiting for it, its check for an event
// found none, and the send's wake-up had come before: the workflow slept
// through its event. Now the claim passes the driver by until the send
// commits, and then takes it. (PostgreSQL only: SQLite's one writer runs
// the claim after the send.)
func testWakeHoldsAReadyDriver(t *testing.T, b *bundle) {
	if b.s.Capabilities().Dialect != "postgres" {
		t.Skip("one writer: a claim cannot run while a send is open")
	}
	p := b.params([]store.NewStep{{Name: "workflow", Handler: "workflow:test/flow", Retryable: true, RetryLimit: 5}})
	p.Kind = store.KindCode
	res, err := b.s.CreateTask(b.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Task.ID
	tx, err := b.s.DB().BeginTx(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	in := b.s.WithTx(tx)
	if _, _, err := in.SendEvent(b.ctx, &store.SendEventParams{TaskID: id, Name: "go", Key: "k", Now: b.now}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.WakeTask(b.ctx, &store.WakeTaskParams{TaskID: id, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	if got := b.claim(t, 10); len(got) > 0 {
		// The run the claim started does not see the event: it waits.
		b.finish(t, store.StepOutcome{Lease: got[0].Step.Lease(), Kind: store.OutcomeSuspend, RetryAfter: time.Hour, WakeOnEvents: []string{"go"}})
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := b.claim(t, 10); len(got) != 1 {
		t.Fatalf("after the send committed, claimed %d steps; want the driver, woken by its event (it slept through it)", len(got))
	}
}
