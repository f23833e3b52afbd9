package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Wake-up timing.
const (
	// notifyEvery bounds the NOTIFYs that wake claim loops: Wake calls
	// within it of the last share one. doneEvery bounds those that say a
	// task finished (AnnounceDone), which wake only the processes'
	// waiters: one a millisecond at most.
	notifyEvery = 3 * time.Millisecond
	doneEvery   = time.Millisecond
	// notifyTimeout bounds one NOTIFY (waiting for a pool connection
	// included); a lost one only delays other processes until they poll.
	notifyTimeout = 5 * time.Second
	// The listener reconnects after minBackoff, doubling up to maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// connectTimeout bounds one attempt to connect and LISTEN.
	connectTimeout = 10 * time.Second
	// helloGrace is how long a listener that has heard no other process
	// keeps sending NOTIFYs after it starts listening: time for the
	// processes already there to answer its hello (what it skips before
	// the answer is announced when the answer comes).
	helloGrace = 20 * time.Millisecond
	// A listener that knows of another process says it is alive every
	// aliveEvery, and forgets a process it has not heard for peerTTL: a
	// process that listened once (a CLI call that waited, say) and left
	// no longer makes the others send a NOTIFY at every burst for ever.
	aliveEvery = 10 * time.Second
	peerTTL    = 3 * aliveEvery
)

// waker carries wake-ups between processes over LISTEN/NOTIFY on a channel
// named after the schema, so tenants in other schemas are not woken.
//
// Wake delivers to this process at once and asks the notifier goroutine
// for a NOTIFY, which it sends on a pool connection, at most one per
// notifyEvery (AnnounceDone: one per doneEvery). The listener goroutine
// (started by the first Wakeups) holds a dedicated connection in LISTEN
// and forwards other processes' notifications; its own come back tagged
// with its id and are skipped, as they were delivered already.
//
// A NOTIFY is a transaction of its own, with its own WAL flush: a third of
// the commits of 2,000 one-step workflows. So a process that listens sends
// none while it knows of no other process on the channel: each listener
// says hello when it starts listening, the others answer, and any
// notification from another process makes it known. A process that does
// not listen cannot know, and always sends. A process is known while it
// was heard within peerTTL: listeners that know of another one send an
// "alive" notification every aliveEvery.
type waker struct {
	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig
	channel string
	self    string // NOTIFY payload naming this store
	poll    time.Duration

	out      chan struct{} // Wakeups; buffered 1, sends never block
	kick     chan struct{} // to the notifier; buffered 1
	doneOut  chan struct{} // TaskDone; buffered 1
	doneKick chan struct{} // to the notifier: a task finished; buffered 1

	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex // guards closed and starting goroutines
	closed     bool
	listenerUp bool
	wg         sync.WaitGroup

	listening    atomic.Bool
	listenedAt   atomic.Int64 // when the listener last started listening (unix nanoseconds)
	heardAt      atomic.Int64 // when another process was last heard on the channel (unix nanoseconds; 0: never)
	grace        time.Duration
	peerTTL      time.Duration // how long a process heard is known (peerTTL; tests set another)
	aliveEvery   time.Duration
	notifyErrors atomic.Int64
	readyEvery   atomic.Int64 // notifyEvery and doneEvery, in nanoseconds (tests set others)
	doneEvery    atomic.Int64
	skipped      atomic.Int64 // NOTIFYs not sent: no other process known
	// onListen, when set (by tests, before the first Wakeups), is called
	// with the listener's backend pid each time it starts listening.
	onListen func(pid uint32)
}

func newWaker(pool *pgxpool.Pool, connCfg *pgx.ConnConfig, schema string, poll time.Duration) *waker {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	ctx, cancel := context.WithCancel(context.Background())
	w := &waker{
		pool: pool, connCfg: connCfg.Copy(), channel: channelName(schema), self: hex.EncodeToString(id), poll: poll,
		out: make(chan struct{}, 1), kick: make(chan struct{}, 1), doneOut: make(chan struct{}, 1), doneKick: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, grace: helloGrace, peerTTL: peerTTL, aliveEvery: aliveEvery,
	}
	w.readyEvery.Store(int64(notifyEvery))
	w.doneEvery.Store(int64(doneEvery))
	w.wg.Add(1)
	go w.notifyLoop()
	return w
}

// channelName is "tasker_ready:<schema>", or a digest of the schema when
// that would pass PostgreSQL's 63-byte limit on identifiers.
func channelName(schema string) string {
	ch := "tasker_ready:" + schema
	if len(ch) <= 63 {
		return ch
	}
	sum := sha256.Sum256([]byte(schema))
	return "tasker_ready:" + hex.EncodeToString(sum[:16])
}

func (w *waker) signal() {
	select {
	case w.out <- struct{}{}:
	default:
	}
}

func (w *waker) wake() {
	w.signal()
	w.kickNotifier()
}

func (w *waker) kickNotifier() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Payload suffixes: doneSuffix tags a notification that says a task
// finished (waiters care, claim loops do not); helloSuffix a listener that
// just started, which the others answer with hereSuffix; aliveSuffix a
// listener that is still there (heard, nothing else).
const (
	doneSuffix  = ":done"
	helloSuffix = ":hello"
	hereSuffix  = ":here"
	aliveSuffix = ":alive"
)

func (w *waker) signalDone() {
	select {
	case w.doneOut <- struct{}{}:
	default:
	}
}

// announceDone tells other processes that a task finished.
func (w *waker) announceDone() {
	select {
	case w.doneKick <- struct{}{}:
	default:
	}
}

// taskDone starts the listener (as wakeups does) and returns its channel
// of other processes' task completions.
func (w *waker) taskDone() <-chan struct{} {
	w.wakeups()
	return w.doneOut
}

func (w *waker) wakeups() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed && !w.listenerUp {
		w.listenerUp = true
		w.wg.Add(3)
		go w.listenLoop()
		go w.fallbackLoop()
		go w.aliveLoop()
	}
	return w.out
}

func (w *waker) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
}

// notifyLoop sends one NOTIFY per burst of Wake calls and one per burst
// of AnnounceDone calls: at once, unless one of the same kind went out
// within its window (notifyEvery, doneEvery), and then as that window
// ends, so the burst shares one. Completions have the shorter window: a
// process waiting in turn for workflows that each finished in about 3 ms
// waited for the rest of a 3 ms window at nearly every completion
// (code-first 3-step chains on Postgres, starter and worker in two
// processes: p50 4.0 ms; 3.1 ms with a 1 ms window).
func (w *waker) notifyLoop() {
	defer w.wg.Done()
	due := time.NewTimer(time.Hour)
	due.Stop()
	defer due.Stop()
	var ready, done bool          // asked for, not sent yet
	var readyAt, doneAt time.Time // the last send of each kind
	for {
		if !ready && !done {
			select {
			case <-w.ctx.Done():
				return
			case <-w.kick:
				ready = true
			case <-w.doneKick:
				done = true
			}
		}
		select { // whatever else is asked already goes in this burst
		case <-w.kick:
			ready = true
		default:
		}
		select {
		case <-w.doneKick:
			done = true
		default:
		}
		if w.alone() {
			w.skipped.Add(1)
			ready, done = false, false
			continue
		}
		now := time.Now()
		readyEvery, doneEvery := time.Duration(w.readyEvery.Load()), time.Duration(w.doneEvery.Load())
		if done && now.Sub(doneAt) >= doneEvery {
			w.notify(w.self + doneSuffix)
			done, doneAt = false, now
		}
		if ready && now.Sub(readyAt) >= readyEvery {
			w.notify(w.self)
			ready, readyAt = false, now
		}
		if !ready && !done {
			continue
		}
		var wait time.Duration // until the first window that holds one ends
		if done {
			wait = time.Until(doneAt.Add(doneEvery))
		}
		if ready {
			if d := time.Until(readyAt.Add(readyEvery)); !done || d < wait {
				wait = d
			}
		}
		due.Reset(wait)
		select {
		case <-w.ctx.Done():
			return
		case <-due.C:
		}
	}
}

// alone tells that no other process is known to listen: this one has
// listened for the grace period without hearing any, or has not heard
// any for peerTTL.
func (w *waker) alone() bool {
	return w.listening.Load() && !w.known() && time.Since(time.Unix(0, w.listenedAt.Load())) >= w.grace
}

// known tells that another process was heard within peerTTL.
func (w *waker) known() bool {
	at := w.heardAt.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < w.peerTTL
}

func (w *waker) notify(payload string) {
	ctx, cancel := context.WithTimeout(w.ctx, notifyTimeout)
	_, err := w.pool.Exec(ctx, "SELECT pg_notify($1, $2)", w.channel, payload)
	cancel()
	if err != nil && w.ctx.Err() == nil {
		w.notifyErrors.Add(1)
	}
}

// listenLoop keeps a connection in LISTEN, reconnecting with exponential
// backoff when it drops.
func (w *waker) listenLoop() {
	defer w.wg.Done()
	backoff := minBackoff
	for {
		conn, err := w.listen()
		if err == nil {
			backoff = minBackoff
			w.listenedAt.Store(time.Now().UnixNano())
			w.listening.Store(true)
			w.notify(w.self + helloSuffix)
			// Notifications sent while we were away are lost: poll once.
			w.signal()
			w.signalDone()
			if w.onListen != nil {
				w.onListen(conn.PgConn().PID())
			}
			w.receive(conn)
			w.listening.Store(false)
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(closeCtx)
			cancel()
		}
		if w.ctx.Err() != nil {
			return
		}
		w.signal() // fall back to polling at once
		w.signalDone()
		t := time.NewTimer(backoff)
		select {
		case <-w.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (w *waker) listen() (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(w.ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, w.connCfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{w.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// receive forwards notifications until the connection fails or the waker
// closes.
func (w *waker) receive(conn *pgx.Conn) {
	for {
		n, err := conn.WaitForNotification(w.ctx)
		if err != nil {
			return
		}
		p := n.Payload
		if strings.HasPrefix(p, w.self) { // ours, delivered already
			continue
		}
		wasAlone := !w.known()
		w.heardAt.Store(time.Now().UnixNano())
		if wasAlone && w.skipped.Load() > 0 {
			// What was left unannounced while alone is announced now.
			w.kickNotifier()
			w.announceDone()
		}
		switch {
		case strings.HasSuffix(p, aliveSuffix):
			// Heard: nothing else to do.
		case strings.HasSuffix(p, helloSuffix):
			w.notify(w.self + hereSuffix)
		case strings.HasSuffix(p, hereSuffix):
			// An answer to our hello: what this process did before it
			// was heard went unannounced, so look once.
			w.signal()
			w.signalDone()
		case strings.HasSuffix(p, doneSuffix):
			w.signalDone()
		default:
			w.signal()
		}
	}
}

// aliveLoop says this process is still there every aliveEvery while it
// listens and knows of another process, which so keeps knowing of it.
func (w *waker) aliveLoop() {
	w.tick(w.aliveEvery, func() {
		if w.listening.Load() && w.known() {
			w.notify(w.self + aliveSuffix)
		}
	})
}

// fallbackLoop ticks Wakeups every poll interval while the listener is
// disconnected (connecting included), so the engine keeps polling.
func (w *waker) fallbackLoop() {
	w.tick(w.poll, func() {
		if !w.listening.Load() {
			w.signal()
			w.signalDone()
		}
	})
}

// tick runs f every d until the waker closes (one of w.wg).
func (w *waker) tick(d time.Duration, f func()) {
	defer w.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
