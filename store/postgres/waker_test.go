package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store/postgres"
)

// wait is generous: it bounds a failure, it never paces a passing test.
const wait = 10 * time.Second

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("no %s within %s", what, wait)
		panic("unreachable")
	}
}

func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// listener is a store whose listener reports each backend pid it listens
// on. Its fallback ticks are off (an hour apart), so once the wake-up a
// fresh connection delivers is drained, whatever arrives next was
// announced by someone.
type listener struct {
	s      *postgres.Store
	wakeup <-chan struct{}
	pids   chan uint32
}

func listen(t *testing.T, schema string) *listener {
	t.Helper()
	l := &listener{s: open(t, schema, &postgres.Options{MaxConns: 2, WakeupPoll: time.Hour}), pids: make(chan uint32, 16)}
	postgres.SetListenHook(l.s, func(pid uint32) { l.pids <- pid })
	l.wakeup = l.s.Wakeups()
	return l
}

// connected waits for the listener's next LISTEN and returns its pid.
func (l *listener) connected(t *testing.T) uint32 {
	t.Helper()
	pid := receive(t, l.pids, "LISTEN")
	drain(l.wakeup)
	if !l.s.Stats().Listening {
		t.Fatal("Stats does not report the listener connected")
	}
	return pid
}

func TestWakeAcrossStores(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t)
	a := open(t, schema, &postgres.Options{MaxConns: 2})
	b := listen(t, schema)
	pid := b.connected(t)

	// Wake reaches its own store at once, without a round trip.
	a.Wake()
	select {
	case <-a.Wakeups():
	default:
		t.Fatal("Wake did not signal its own store's Wakeups")
	}
	// The other store hears through NOTIFY; bursts coalesce, and a
	// wake-up still follows each.
	for range 3 {
		for range 50 {
			a.Wake()
		}
		receive(t, b.wakeup, "wake-up from the other store")
	}

	// The server drops the listener's connection: it reconnects and
	// delivery resumes.
	pgtest.Exec(t, "SELECT pg_terminate_backend($1)", int64(pid))
	if again := b.connected(t); again == pid {
		t.Fatalf("listener still on backend %d after it was terminated", pid)
	}
	a.Wake()
	receive(t, b.wakeup, "wake-up after the listener reconnected")
}

// TestWakeStaysInSchema: a store in another schema (another tenant) is not
// woken. The check for absence waits briefly after the same announcement
// has reached a listener of the right schema.
func TestWakeStaysInSchema(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t)
	a := open(t, schema, &postgres.Options{MaxConns: 2})
	same, other := listen(t, schema), listen(t, "")
	same.connected(t)
	other.connected(t)
	a.Wake()
	receive(t, same.wakeup, "wake-up in the same schema")
	select {
	case <-other.wakeup:
		t.Fatal("a store in another schema was woken")
	case <-time.After(100 * time.Millisecond):
	}
}

// TestWakeupsFallBackToPolling: while the listener cannot connect,
// Wakeups ticks every WakeupPoll so the engine keeps polling.
func TestWakeupsFallBackToPolling(t *testing.T) {
	t.Parallel()
	s := open(t, "", &postgres.Options{MaxConns: 2, WakeupPoll: 10 * time.Millisecond})
	postgres.BreakListener(s)
	ch := s.Wakeups()
	for range 3 {
		receive(t, ch, "fallback tick")
	}
	if s.Stats().Listening {
		t.Fatal("Stats reports a listener that cannot connect as listening")
	}
}

// TestTaskDoneFallsBackToPolling: while the listener cannot connect,
// TaskDone ticks every WakeupPoll too, so cross-process waits look.
func TestTaskDoneFallsBackToPolling(t *testing.T) {
	t.Parallel()
	s := open(t, "", &postgres.Options{MaxConns: 2, WakeupPoll: 10 * time.Millisecond})
	postgres.BreakListener(s)
	ch, stop := s.TaskDone()
	defer stop()
	for range 3 {
		receive(t, ch, "fallback tick")
	}
}

// TestWakeAfterClose: a closed store's Wake and Wakeups do nothing and
// start nothing (goleak in TestMain checks the latter).
func TestWakeAfterClose(t *testing.T) {
	t.Parallel()
	s := open(t, "", nil)
	s.Wakeups()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Wake()
	s.Wakeups()
}

// A task completion announced by one store reaches the others' TaskDone,
// not their Wakeups (claim loops need not look), and not its own TaskDone.
func TestTaskDoneAcrossStores(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t)
	a := open(t, schema, &postgres.Options{MaxConns: 2, WakeupPoll: time.Hour})
	b := listen(t, schema)
	b.connected(t)
	done, _ := b.s.TaskDone()
	drain(done) // the fresh connection's first look
	aDone, _ := a.TaskDone()
	drain(aDone)
	a.AnnounceDone()
	receive(t, done, "task-done from the other store")
	select {
	case <-b.wakeup:
		t.Fatal("a task completion woke the other store's claim loop")
	default:
	}
	// A wake-up and a completion in one burst both arrive.
	a.Wake()
	a.AnnounceDone()
	receive(t, b.wakeup, "wake-up in a burst with a completion")
	receive(t, done, "completion in a burst with a wake-up")
}

// Wake-ups and completions have NOTIFY windows of their own: a completion
// announced just after a wake-up went out is sent at once, not held until
// the wake-up's window ends (a waiter in another process paid the rest of
// that window at every completion), while a second one of a kind inside
// its window is held.
func TestDoneNotHeldByTheWakeWindow(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t)
	a := open(t, schema, &postgres.Options{MaxConns: 2, WakeupPoll: time.Hour}) // does not listen: always sends
	postgres.SetNotifyWindows(a, time.Hour, time.Hour)
	b := listen(t, schema)
	b.connected(t)
	done, _ := b.s.TaskDone()
	drain(done) // the fresh connection's first look
	a.Wake()
	receive(t, b.wakeup, "wake-up")
	a.AnnounceDone()
	receive(t, done, "completion right after a wake-up")
	a.Wake()
	a.AnnounceDone()
	select {
	case <-b.wakeup:
		t.Fatal("a second wake-up inside its window was sent")
	case <-done:
		t.Fatal("a second completion inside its window was sent")
	case <-time.After(100 * time.Millisecond):
	}
}

// A process that listens sends no NOTIFY while it has heard no other
// process; when another one says hello it announces what it skipped, and
// sends them again.
func TestNoNotifyWhileAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := pgtest.NewSchema(t)
	raw := bystander(t, schema)
	next := func(what string) string {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		n, err := raw.WaitForNotification(wctx)
		if err != nil {
			t.Fatalf("no notification (%s): %v", what, err)
		}
		return n.Payload
	}

	a := open(t, schema, &postgres.Options{MaxConns: 2, WakeupPoll: time.Hour})
	postgres.SetHelloGrace(a, 0)
	aWake := a.Wakeups()
	aSelf, _, _ := postgres.NotifyState(a)
	if p := next("a's hello"); p != aSelf+":hello" {
		t.Fatalf("first notification %q, want a's hello", p)
	}
	a.Wake()
	a.AnnounceDone()
	waitFor(t, "a to skip its NOTIFY", func() bool { _, _, skipped := postgres.NotifyState(a); return skipped > 0 })
	receive(t, aWake, "a's own wake-up")

	b := listen(t, schema)
	bSelf, _, _ := postgres.NotifyState(b.s)
	// Nothing of a's came between its hello and b's: it was skipped.
	if p := next("b's hello"); p != bSelf+":hello" {
		t.Fatalf("after a's hello came %q, want b's hello (a sent a NOTIFY while alone)", p)
	}
	// a answers b, and announces what it skipped: a wake-up and a
	// completion (in either order: the answer is sent as the skipped ones
	// are queued).
	got := map[string]bool{}
	for range 3 {
		got[next("a's answer and what it skipped")] = true
	}
	for _, want := range []string{aSelf + ":here", aSelf, aSelf + ":done"} {
		if !got[want] {
			t.Fatalf("after b's hello came %v, want a's answer, wake-up and completion", got)
		}
	}
	waitFor(t, "a and b to know of each other", func() bool {
		_, ap, _ := postgres.NotifyState(a)
		_, bp, _ := postgres.NotifyState(b.s)
		return ap && bp
	})
	_, _, skipped := postgres.NotifyState(a)
	a.Wake()
	if p := next("a's wake-up"); p != aSelf {
		t.Fatalf("after a's answer came %q, want a's wake-up", p)
	}
	receive(t, b.wakeup, "a's wake-up in b")
	if _, _, now := postgres.NotifyState(a); now != skipped {
		t.Fatalf("a skipped %d NOTIFYs after hearing b", now-skipped)
	}
}

// waitFor polls cond until it holds; wait bounds a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, wait)
		}
		time.Sleep(time.Millisecond)
	}
}

// A listener keeps another process known while it hears it (the other
// says it is alive while it knows of one) and forgets it once it has not
// heard it for the peer TTL: a process that listened and left does not
// make the others send a NOTIFY at every burst for ever.
func TestPeersForgottenWhenSilent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := pgtest.NewSchema(t)
	raw := bystander(t, schema)
	const ttl, alive = 500 * time.Millisecond, 50 * time.Millisecond
	opts := &postgres.Options{MaxConns: 2, WakeupPoll: time.Hour}
	a := open(t, schema, opts)
	postgres.SetHelloGrace(a, 0)
	postgres.SetPeerTTL(a, ttl, alive)
	a.Wakeups()
	b, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: schema, MaxConns: 2, WakeupPoll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	postgres.SetHelloGrace(b, 0)
	postgres.SetPeerTTL(b, ttl, alive)
	b.Wakeups()
	bSelf, _, _ := postgres.NotifyState(b)
	waitFor(t, "a and b to know of each other", func() bool {
		_, ap, _ := postgres.NotifyState(a)
		_, bp, _ := postgres.NotifyState(b)
		return ap && bp
	})
	// While b lives, it says so: a still knows it past the TTL.
	for heard := time.Duration(0); heard <= 2*ttl; {
		wctx, cancel := context.WithTimeout(ctx, wait)
		n, err := raw.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("no notification while b lives: %v", err)
		}
		if n.Payload == bSelf+":alive" {
			heard += alive
		}
	}
	if _, known, _ := postgres.NotifyState(a); !known {
		t.Fatal("a forgot b while b was saying it is alive")
	}

	b.Close()
	waitFor(t, "a to forget b once b is gone", func() bool { _, known, _ := postgres.NotifyState(a); return !known })
	_, _, skipped := postgres.NotifyState(a)
	a.Wake()
	waitFor(t, "a to skip its NOTIFY, alone again", func() bool { _, _, now := postgres.NotifyState(a); return now > skipped })
}

// bystander is a connection that listens on the schema's channel and never
// speaks: it sees every notification.
func bystander(t *testing.T, schema string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	raw, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(ctx) })
	if _, err := raw.Exec(ctx, "LISTEN "+pgx.Identifier{postgres.ChannelName(schema)}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return raw
}
