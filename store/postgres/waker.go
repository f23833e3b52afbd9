package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Wake-up timing.
const (
	// notifyEvery bounds NOTIFYs: Wake calls within it share one.
	notifyEvery = 3 * time.Millisecond
	// notifyTimeout bounds one NOTIFY (waiting for a pool connection
	// included); a lost one only delays other processes until they poll.
	notifyTimeout = 5 * time.Second
	// The listener reconnects after minBackoff, doubling up to maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// connectTimeout bounds one attempt to connect and LISTEN.
	connectTimeout = 10 * time.Second
)

// waker carries wake-ups between processes over LISTEN/NOTIFY on a channel
// named after the schema, so tenants in other schemas are not woken.
//
// Wake delivers to this process at once and asks the notifier goroutine
// for a NOTIFY, which it sends on a pool connection, at most one per
// notifyEvery. The listener goroutine (started by the first Wakeups) holds
// a dedicated connection in LISTEN and forwards other processes'
// notifications; its own come back tagged with its id and are skipped, as
// they were delivered already.
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
	notifyErrors atomic.Int64
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
		ctx: ctx, cancel: cancel,
	}
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
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// doneSuffix tags a notification that says a task finished (waiters care,
// claim loops do not).
const doneSuffix = ":done"

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
		w.wg.Add(2)
		go w.listenLoop()
		go w.fallbackLoop()
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

// notifyLoop sends one NOTIFY per burst of Wake calls, then rests for
// notifyEvery so the next burst shares the next one.
func (w *waker) notifyLoop() {
	defer w.wg.Done()
	rest := time.NewTimer(notifyEvery)
	defer rest.Stop()
	for {
		payload := w.self
		select {
		case <-w.ctx.Done():
			return
		case <-w.kick:
			select { // a completion waiting too goes in the same burst
			case <-w.doneKick:
				w.notify(w.self + doneSuffix)
			default:
			}
		case <-w.doneKick:
			payload = w.self + doneSuffix
		}
		w.notify(payload)
		rest.Reset(notifyEvery)
		select {
		case <-w.ctx.Done():
			return
		case <-rest.C:
		}
	}
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
			w.listening.Store(true)
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
		switch n.Payload {
		case w.self, w.self + doneSuffix: // ours, delivered already
		default:
			if len(n.Payload) > len(doneSuffix) && n.Payload[len(n.Payload)-len(doneSuffix):] == doneSuffix {
				w.signalDone()
			} else {
				w.signal()
			}
		}
	}
}

// fallbackLoop ticks Wakeups every poll interval while the listener is
// disconnected (connecting included), so the engine keeps polling.
func (w *waker) fallbackLoop() {
	defer w.wg.Done()
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
			if !w.listening.Load() {
				w.signal()
				w.signalDone()
			}
		}
	}
}
