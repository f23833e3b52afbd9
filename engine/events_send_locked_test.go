package engine_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
)

// SendEvent judges the task on its state as of after the task's events
// are held (the store's SendEvent), not before: on PostgreSQL it read the
// task first, so a workflow that finished while the send waited for
// another transaction holding its events was judged running, and the
// event was accepted, new, for a run that had ended and would never read
// it. Here the send waits on a transaction that holds the task's events
// while the workflow finishes; once it proceeds it is refused.
func TestSendEventJudgesTheTaskAfterHoldingItsEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, e, h, release, ran := runningOnPostgres(ctx, t)

	hold, err := s.DB().BeginTx(ctx, nil)
	must(t, err)
	defer hold.Rollback()
	if _, _, err := s.WithTx(hold).SendEvent(ctx, &store.SendEventParams{TaskID: h.TaskID, Name: "other", Key: "held"}); err != nil {
		t.Fatal(err)
	}
	done := sendWhileHeld(ctx, t, s, e, h.TaskID, "late", 7, hold)

	close(release) // the workflow ends while the send waits
	must(t, <-ran)
	d, err := s.GetTask(ctx, h.TaskID)
	must(t, err)
	if d.Task.State != store.TaskComplete {
		t.Fatalf("the workflow is %s, want complete", d.Task.State)
	}
	must(t, hold.Rollback())
	got := <-done
	if !errors.Is(got.err, engine.ErrEventRefused) || !strings.Contains(got.err.Error(), "is complete") {
		t.Fatalf("SendEvent to a workflow that ended while it waited: new %v, %v; want ErrEventRefused saying it is complete", got.created, got.err)
	}
	var n int
	must(t, s.DB().NewRaw("SELECT count(*) FROM tasker_events WHERE task_id = ?", h.TaskID).Scan(ctx, &n))
	if n != 0 {
		t.Fatalf("%d events left on the ended run, want none", n)
	}
}

// A send that holds the task's events while the workflow's end is being
// committed (here a cancel, whose transaction holds the running driver)
// waits for that end before it reads the task: it read the task first,
// judged it running, and the event was accepted, new, for a run cancelled
// before the send committed.
func TestSendEventWaitsForAnEndBeingCommitted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, e, h, release, ran := runningOnPostgres(ctx, t)
	defer func() {
		close(release)
		<-ran // (its driver was cancelled: its end is refused)
	}()

	ending, err := s.DB().BeginTx(ctx, nil)
	must(t, err)
	defer ending.Rollback()
	if _, err := s.WithTx(ending).CancelTask(ctx, &store.CancelTaskParams{TaskID: h.TaskID}); err != nil {
		t.Fatal(err)
	}
	done := sendWhileHeld(ctx, t, s, e, h.TaskID, "late", 7, ending)
	must(t, ending.Commit())
	got := <-done
	if !errors.Is(got.err, engine.ErrEventRefused) || !strings.Contains(got.err.Error(), "is cancelled") {
		t.Fatalf("SendEvent to a workflow cancelled while it was sent: new %v, %v; want ErrEventRefused saying it is cancelled", got.created, got.err)
	}
	var n int
	must(t, s.DB().NewRaw("SELECT count(*) FROM tasker_events WHERE task_id = ?", h.TaskID).Scan(ctx, &n))
	if n != 0 {
		t.Fatalf("%d events left on the cancelled run, want none", n)
	}
}

// runningOnPostgres starts a code-first workflow on a fresh PostgreSQL
// schema and runs it (RunOnce, in the background) until it blocks:
// closing release lets it return its input, and ran gets RunOnce's error.
func runningOnPostgres(ctx context.Context, t *testing.T) (s *postgres.Store, e *engine.Engine, h *engine.WorkflowHandle[int], release chan struct{}, ran chan error) {
	t.Helper()
	s = pgtest.Open(t, pgtest.NewSchema(t), 4)
	e, err := engine.New(engine.Config{Store: s})
	must(t, err)
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	running := make(chan struct{})
	release = make(chan struct{})
	must(t, engine.RegisterWorkflow(e, "t/blocks", func(wctx *engine.WorkflowContext, in int) (int, error) {
		close(running)
		<-release
		return in, nil
	}))
	h, err = engine.StartWorkflow[int, int](ctx, e, "t/blocks", 1)
	must(t, err)
	ran = make(chan error, 1)
	go func() {
		_, err := e.RunOnce(ctx)
		ran <- err
	}()
	<-running
	return s, e, h, release, ran
}

// sent is what a SendEvent run in the background returned.
type sent struct {
	created bool
	err     error
}

// sendWhileHeld sends event name (key "k") to task id in the background
// and returns once the send waits for tx or has returned; the channel
// gets what it returned.
func sendWhileHeld(ctx context.Context, t *testing.T, s *postgres.Store, e *engine.Engine, id int64, name string, payload any, tx bun.Tx) chan sent {
	t.Helper()
	done := make(chan sent, 1)
	go func() {
		created, err := e.SendEvent(ctx, id, name, "k", payload)
		done <- sent{created, err}
	}()
	waitBlockedBy(t, s, tx, func() bool { return len(done) > 0 })
	return done
}

// waitBlockedBy returns once another backend of s waits for tx (on a lock
// tx holds), or once returned says the call under test has returned
// without waiting; it fails the test after 10s of neither.
func waitBlockedBy(t *testing.T, s *postgres.Store, tx bun.Tx, returned func() bool) {
	t.Helper()
	ctx := context.Background()
	var pid int
	must(t, tx.NewRaw("SELECT pg_backend_pid()").Scan(ctx, &pid))
	deadline := time.Now().Add(10 * time.Second)
	for !returned() {
		var n int
		must(t, s.DB().NewRaw("SELECT count(*) FROM pg_stat_activity WHERE ? = ANY(pg_blocking_pids(pid))", pid).Scan(ctx, &n))
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the call neither returned nor waited for the transaction within 10s")
		}
		runtime.Gosched()
	}
}
