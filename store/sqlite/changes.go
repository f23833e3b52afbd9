package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tasker-go/tasker/store"
)

// changePoll is how often TaskDone and Wakeups look for commits, each on a
// connection of the read pool of its own (a reader's look takes nothing
// from the writer): a waiter or an idle worker in another process learns
// of a commit within a millisecond. (Wakeups looked every 5 ms on the
// writer's connection before: tasker bench W5x p50 5.5 ms, against 1.5 ms
// for W5 in one process; looking there every millisecond made W5 15 %
// slower.)
const changePoll = time.Millisecond

// alonePoll is how often they look while no other store has the file open
// (presence): only this process's own commits move it then, and those the
// engine hands over itself, but for one it cannot see — the commit of a
// caller's transaction holding an engine.InTx start. Looking every
// millisecond cost a single process about 9 % of its latency and
// throughput (tasker bench W5, W5c, W2, W3).
const alonePoll = 10 * time.Millisecond

// signalKind is what a signal between processes tells (a bit set).
type signalKind uint8

const (
	signalWork signalKind = 1 << iota // a task was created: workers look
	signalDone                        // a task finished: waiters look
)

// signalGap spaces the looks that signals of other processes bring
// (signalWatch: a start, a finished task; inotify, on Linux) on top of
// the poll: one look is a read, and a burst of signals needs one. The
// poll's own looks do not count: a signal after one is looked at at once.
const signalGap = 200 * time.Microsecond

// AnnounceDone tells the stores of other processes on the file that a task
// finished, so that their TaskDone looks at once (where signals can be
// watched; every commit is seen within a millisecond through the file's
// data_version anyway). Alone on the file, it does nothing.
func (s *Store) AnnounceDone() { s.announce(signalDone) }

// announce signals the stores of other processes on the file (presence),
// when there are any, to look for a change of that kind now.
func (s *Store) announce(kind signalKind) {
	if s.pres != nil && !s.pres.alone() {
		s.pres.signal(kind)
	}
}

// TaskDone reports commits made through other connections to the file —
// other processes, and this process's writer — so that Wait in one process
// sees a task another process finished within a few milliseconds rather
// than at its poll interval. It polls PRAGMA data_version every millisecond on one
// connection of the read pool, from the call until stop; the channel holds
// at most one signal. An in-memory store (no other process can share it)
// and a read-only one (Options.ReadOnly: its one pool is the store's, for
// its reads) return a channel that never fires: their waiters poll.
func (s *Store) TaskDone() (<-chan struct{}, func()) {
	out := make(chan struct{}, 1)
	if s.ro == nil {
		return out, func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	// The first reading is taken before TaskDone returns: a commit made
	// after the call (while the caller reads the task) must signal, and a
	// poller that took its first reading later would miss it.
	conn, err := s.pollerConn(ctx)
	if err != nil {
		cancel()
		return out, func() {} // closed store: waiters fall back to their poll
	}
	first := int64(-1)
	if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&first); err != nil {
		first = -1
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer conn.Close()
		pollDataVersion(ctx, conn, out, true, first, s.every(), s.pres.alone, s.signals, signalDone, nil, &s.looks[0])
	}()
	return out, func() { cancel(); <-done }
}

// Wakeups reports commits to the file that leave steps ready to claim, so
// that new work written by another process is claimed here within a few
// milliseconds instead of at the poll interval. It polls PRAGMA
// data_version every millisecond on a connection of the read pool, and
// when the value moves (a commit by any connection, this process's writer
// included) looks on the same connection for a step ready now: this
// process's own commits so wake its worker only when they left work behind
// (a completion that claimed what it unblocked does not). The first call
// starts the poller; Close stops it. An in-memory or read-only store
// returns nil (no other writer).
func (s *Store) Wakeups() <-chan struct{} {
	if s.ro == nil || s.readOnly {
		return nil
	}
	return s.wake.start(s.pollerConn, s.every(), s.pres.alone, s.signals, &s.looks[1])
}

// pollerConn is a connection of the read pool for a poller, which holds it
// until it stops: the pool is widened by one first, and narrowed back when
// the connection is closed, so the pollers' connections come on top of
// ReadConns. Taken from the pool's ReadConns, the claim loop's poller
// alone held the only one with ReadConns 1, and TaskDone and every read
// (a claim's inputs, Wait's outcome) waited for ever.
func (s *Store) pollerConn(ctx context.Context) (*pollConn, error) {
	s.pollMu.Lock()
	s.polling++
	s.ro.SetMaxOpenConns(s.readConns + s.polling)
	s.pollMu.Unlock()
	conn, err := s.ro.Conn(ctx)
	if err != nil {
		s.pollerDone()
		return nil, err
	}
	return &pollConn{Conn: conn, done: s.pollerDone}, nil
}

func (s *Store) pollerDone() {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	s.polling--
	s.ro.SetMaxOpenConns(s.readConns + s.polling)
}

// pollConn is a poller's connection: Close gives it back and narrows the
// pool.
type pollConn struct {
	*sql.Conn
	done func()
}

func (c *pollConn) Close() error {
	err := c.Conn.Close()
	c.done()
	return err
}

// signals returns the store's watch of other processes' signals, started
// on first use — by a poller that finds the store not alone, so that a
// store alone on its file holds no inotify instance — (nil where there is
// none: see signalWatch).
func (s *Store) signals() *signalWatch {
	s.watchOnce.Do(func() {
		if s.pres != nil {
			s.watch = watchSignals(s.path)
		}
	})
	return s.watch
}

// readyProbe finds a step ready to claim now (the claim's own test, less
// routing: a worker woken for a step it does not serve finds nothing).
const readyProbe = `SELECT 1 FROM tasker_steps WHERE state = 'pending' AND pending_deps = 0 AND next_attempt_at <= ?1 LIMIT 1`

// Close stops the poller of Wakeups and closes the store.
func (s *Store) Close() error {
	s.wake.stop()
	s.watchOnce.Do(func() {}) // none starts after this
	if s.watch != nil {
		s.watch.stop()
	}
	err := s.Store.Close()
	s.pres.close()
	return err
}

// wakeups is the data_version poller behind Wakeups.
type wakeups struct {
	mu     sync.Mutex
	ch     chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

func (w *wakeups) start(pollerConn func(context.Context) (*pollConn, error), every time.Duration, alone func() bool, signals func() *signalWatch, looks *atomic.Int64) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch != nil {
		return w.ch
	}
	w.ch = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	// The first reading is taken before Wakeups returns, as TaskDone's: a
	// commit made after the call must signal.
	conn, err := pollerConn(ctx)
	if err != nil {
		close(w.done)
		return w.ch // closed store: workers fall back to their poll
	}
	first := int64(-1)
	if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&first); err != nil {
		first = -1
	}
	go func() {
		defer close(w.done)
		defer conn.Close()
		ready := func(ctx context.Context) bool {
			var one int
			return conn.QueryRowContext(ctx, readyProbe, dialect{}.BindTime(time.Now())).Scan(&one) == nil
		}
		pollDataVersion(ctx, conn, w.ch, false, first, every, alone, signals, signalWork, ready, looks)
	}()
	return w.ch
}

func (w *wakeups) stop() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.cancel = nil
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// every is the store's changePoll (tests set another).
func (s *Store) every() time.Duration { return cmp.Or(s.poll, changePoll) }

// pollDataVersion reads PRAGMA data_version on conn until ctx ends — every
// every (every alonePoll while alone says so), and at once (spaced by
// signalGap) when the watch signals returns, if any, brings another
// process's signal of kind — and signals out (coalesced) when the value
// differs from the last one read (last: one read already, or -1) and worth
// (nil: always) says so. A failed read ends the poll when stopOnError, else
// it is skipped (a writer busy at Close). Each look adds one to looks, once
// the poller listens for what comes next.
func pollDataVersion(ctx context.Context, conn interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}, out chan<- struct{}, stopOnError bool, last int64, every time.Duration, alone func() bool, signals func() *signalWatch, kind signalKind, worth func(context.Context) bool, looks *atomic.Int64) {
	// Prepared once: the statement cache keeps only statements with
	// arguments, and parsing the pragma at every look was a third of it.
	version, err := conn.PrepareContext(ctx, "PRAGMA data_version")
	if err != nil {
		return
	}
	defer version.Close()
	var watch *signalWatch // subscribed to once not alone
	var signalled <-chan struct{}
	defer func() {
		if watch != nil {
			watch.unsubscribe(signalled)
		}
	}()
	t := time.NewTimer(every)
	defer t.Stop()
	var signalledAt time.Time // of the last look a signal brought
	for {
		v := last
		if err := version.QueryRowContext(ctx).Scan(&v); err != nil && (stopOnError || ctx.Err() != nil) {
			return
		}
		if last >= 0 && v != last && (worth == nil || worth(ctx)) {
			select {
			case out <- struct{}{}:
			default:
			}
		}
		last = v
		var wake <-chan struct{} // other processes' signals, when there are others
		if alone() {
			t.Reset(alonePoll)
		} else {
			t.Reset(every)
			if watch == nil {
				if watch = signals(); watch != nil {
					signalled = watch.subscribe(kind)
				}
			}
			if watch != nil && watch.live() {
				wake = signalled
			}
		}
		looks.Add(1) // looked, and subscribed to the signals there are
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
			if gap := signalGap - time.Since(signalledAt); gap > 0 {
				t.Reset(gap)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			signalledAt = time.Now()
		}
	}
}

// CreateTasks is the store's, then signals other processes on the file
// (announce) when it created a task, so that their workers claim its
// steps at once.
func (s *Store) CreateTasks(ctx context.Context, ps []*store.CreateTaskParams) ([]store.CreateTasksItem, error) {
	items, err := s.Store.CreateTasks(ctx, ps)
	if err == nil && slices.ContainsFunc(items, func(it store.CreateTasksItem) bool { return it.Err == nil && it.Task != nil && !it.Existing }) {
		s.announce(signalWork)
	}
	return items, err
}

// CreateTask is CreateTasks for one task.
func (s *Store) CreateTask(ctx context.Context, p *store.CreateTaskParams) (*store.CreateTaskResult, error) {
	res, err := s.Store.CreateTask(ctx, p)
	if err == nil && !res.Existing {
		s.announce(signalWork)
	}
	return res, err
}
