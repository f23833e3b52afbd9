package storetest

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// testSendAndMoveEventsSerialize: SendEvent and MoveEvents of one task
// run one after the other, so an event sent to a run that continues as
// new is moved with the others or its send sees the next run (which the
// engine then refuses it for). Each order is held open with the other call
// waiting on it: a send whose transaction is still open when the move runs
// is moved once it commits (without the lock the move missed it, and the
// event stayed on a run no wait reads: Postgres only, as SQLite has one
// writer), and a send that waited on a move reads, after it, what the
// move's transaction committed (the next run).
func testSendAndMoveEventsSerialize(t *testing.T, b *bundle) {
	from, to := b.create(t, chain("a")).Task.ID, b.create(t, chain("a")).Task.ID
	// The send first: its transaction holds on until the move waits.
	tx, err := b.s.DB().BeginTx(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, created, err := b.s.WithTx(tx).SendEvent(b.ctx, &store.SendEventParams{TaskID: from, Name: "tick", Key: "late", Payload: store.JSON(`7`), Now: b.now}); err != nil || !created {
		t.Fatalf("SendEvent = %v, %v", created, err)
	}
	waits := b.s.DB().Stats().WaitCount
	moved, done := 0, make(chan error, 1)
	go func() {
		var err error
		moved, err = b.s.MoveEvents(b.ctx, &store.MoveEventsParams{From: from, To: to})
		done <- err
	}()
	waitOn(t, b, tx, waits, done)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || moved != 1 {
		t.Fatalf("MoveEvents = %d, %v; want the event sent in the meantime moved", moved, err)
	}
	if ev, err := b.s.ConsumeEvent(b.ctx, &store.ConsumeEventParams{TaskID: to, Name: "tick", Now: b.now}); err != nil || string(ev.Payload) != `7` {
		t.Fatalf("the next task's tick: %v, %v; want the event sent during the move", ev, err)
	}

	// The move first, in a transaction that also creates the next task:
	// a send waiting on it reads that task once it proceeds.
	tx2, err := b.s.DB().BeginTx(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback()
	next := b.params(chain("a"))
	if _, err := b.s.WithTx(tx2).CreateTask(b.ctx, next); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.WithTx(tx2).MoveEvents(b.ctx, &store.MoveEventsParams{From: from, To: to}); err != nil {
		t.Fatal(err)
	}
	waits = b.s.DB().Stats().WaitCount
	var seen error
	go func() {
		done <- b.s.DB().RunInTx(b.ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			s := b.s.WithTx(tx)
			if _, _, err := s.SendEvent(ctx, &store.SendEventParams{TaskID: from, Name: "tick", Key: "later", Payload: store.JSON(`8`), Now: b.now}); err != nil {
				return err
			}
			_, seen = s.GetTaskByIdentity(ctx, next.IdentityKey)
			return nil
		})
	}()
	waitOn(t, b, tx2, waits, done)
	if err := tx2.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("SendEvent after the move: %v", err)
	}
	if seen != nil {
		t.Fatalf("the send did not see the task created with the move it waited on: %v", seen)
	}
}

// waitOn returns once the call another goroutine makes has returned (done
// holds its error: it is put back) or waits for tx: on Postgres, a backend
// blocked by tx's; on SQLite, a call waiting for the one writer connection,
// which tx holds (the pool's wait count past waits).
func waitOn(t *testing.T, b *bundle, tx bun.Tx, waits int64, done chan error) {
	t.Helper()
	pg := b.s.Capabilities().Dialect == "postgres"
	var pid int
	if pg {
		if err := tx.NewRaw("SELECT pg_backend_pid()").Scan(b.ctx, &pid); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err
			return
		default:
		}
		if pg {
			var n int
			if err := b.s.DB().NewRaw("SELECT count(*) FROM pg_stat_activity WHERE ? = ANY(pg_blocking_pids(pid))", pid).Scan(b.ctx, &n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				return
			}
		} else if b.s.DB().Stats().WaitCount > waits {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the other call neither returned nor waited for the transaction within 10s")
		}
		runtime.Gosched()
	}
}
