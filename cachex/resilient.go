package cachex

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// FallbackConfig tunes how a distributed cache fails open. A duration is 0
// (its default) or at least a millisecond: a bare number is nanoseconds
// (RetryInterval: 5 is 5 ns, not 5 s), so a shorter one is refused.
type FallbackConfig struct {
	// RetryInterval is how often Redis is probed while failing open.
	// Zero means 1s.
	RetryInterval time.Duration `yaml:"retry_interval"`
	// ProbeTimeout bounds each of those probes. Zero means 500ms, or the
	// Redis DialTimeout when that is longer; a shorter one than it is
	// refused (a probe would give up before the dial it waits for).
	ProbeTimeout time.Duration `yaml:"probe_timeout"`
	// LogInterval is the least time between two log lines of one kind
	// ("failing open", "Redis refuses", "Redis is back"). Zero means 30s.
	LogInterval time.Duration `yaml:"log_interval"`
}

// Validate reports every problem of the configuration at once.
func (c FallbackConfig) Validate() error {
	var errs []error
	errs = validDuration(errs, "retry_interval", c.RetryInterval)
	errs = validDuration(errs, "probe_timeout", c.ProbeTimeout)
	errs = validDuration(errs, "log_interval", c.LogInterval)
	return errors.Join(errs...)
}

// probeCoversDial refuses a probe timeout (0: its default, which is
// never shorter) shorter than the dial timeout: each probe would give up
// before a dial the cache allows, and a Redis that slow to reach, which
// every operation could use, would never be switched back to.
func probeCoversDial(probe, dial time.Duration) error {
	if probe == 0 || probe >= dial {
		return nil
	}
	return fmt.Errorf("fallback: probe_timeout %s is shorter than redis dial_timeout %s: a probe would give up before a dial the cache allows, and a Redis that slow to reach would never be used again: set probe_timeout to at least %s", probe, dial, dial)
}

// Resilient serves from Redis while Redis answers and fails open to a local
// store when it does not: every operation keeps working, in process only,
// each such operation is counted (Fallbacks), a warning is logged at most
// once per LogInterval, and a background probe switches back as soon as
// Redis takes a write again (a read-only replica answers a PING: see the
// package doc). Capabilities reports the mode in force.
//
// What fails open loses its distributed guarantees for the time of the
// outage: locks and counters taken locally exclude only this process. When
// failing open starts, the local store is emptied, so an outage never serves
// values, counters or locks left by an earlier one. Fences stay monotonic
// within the process across both switches.
type Resilient struct {
	remote *Redis
	local  *Local
	log    *zap.Logger
	cfg    FallbackConfig

	// healthy is true while operations go to Redis. transition serialises
	// the switch to local so nobody uses the local store before it is reset.
	healthy    atomic.Bool
	transition sync.Mutex
	fallbacks  atomic.Uint64
	lastDown   atomic.Int64 // unix nanos of the last "failing open" log line
	lastUp     atomic.Int64 // unix nanos of the last "Redis is back" log line
	lastRefuse atomic.Int64 // unix nanos of the last "Redis refuses" log line
	// refused is true while Redis's last answer to a probe refused the
	// connection (a misconfiguration), rather than there being none.
	refused atomic.Bool

	flights   flightGroup
	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

var _ Cache = (*Resilient)(nil)

// NewResilient wraps remote with local as its fallback and takes ownership
// of both: Close closes them. It probes Redis once (within ProbeTimeout) to
// start in the right mode, then probes in the background while failing
// open. A nil logger logs nothing. A nil or closed store is refused.
func NewResilient(remote *Redis, local *Local, cfg FallbackConfig, logger *zap.Logger) (*Resilient, error) {
	switch {
	case remote == nil:
		return nil, errors.New("resilient cache: the remote store is nil")
	case local == nil:
		return nil, errors.New("resilient cache: the local store is nil")
	case remote.closed.Load():
		return nil, errors.New("resilient cache: the remote store is closed")
	case local.isClosed():
		return nil, errors.New("resilient cache: the local store is closed")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("resilient cache config: %w", err)
	}
	dial := remote.client.Options().DialTimeout
	if err := probeCoversDial(cfg.ProbeTimeout, dial); err != nil {
		return nil, fmt.Errorf("resilient cache config: %w", err)
	}
	cfg.RetryInterval = orDefault(cfg.RetryInterval, time.Second)
	cfg.ProbeTimeout = orDefault(cfg.ProbeTimeout, max(500*time.Millisecond, dial))
	cfg.LogInterval = orDefault(cfg.LogInterval, 30*time.Second)
	if logger == nil {
		logger = zap.NewNop()
	}
	r := &Resilient{remote: remote, local: local, log: logger, cfg: cfg,
		stop: make(chan struct{}), done: make(chan struct{})}
	r.healthy.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ProbeTimeout)
	err := remote.serving(ctx)
	cancel()
	if err != nil {
		r.refused.Store(refusal(err))
		r.markDown(err)
		r.logDown("start", err)
	}
	go r.probeLoop()
	return r, nil
}

// Healthy reports whether operations currently go to Redis.
func (r *Resilient) Healthy() bool { return r.healthy.Load() }

// Fallbacks counts the operations served by the local store because Redis
// did not answer.
func (r *Resilient) Fallbacks() uint64 { return r.fallbacks.Load() }

// Capabilities are Redis's while it answers and the local store's while
// failing open.
func (r *Resilient) Capabilities() Capabilities {
	if r.healthy.Load() {
		return r.remote.Capabilities()
	}
	return r.local.Capabilities()
}

// LocalStats returns the counters of the fallback store.
func (r *Resilient) LocalStats() Stats { return r.local.Stats() }

// unavailable tells whether err means "Redis did not answer" (fail open) as
// opposed to an answer (a miss, a held lock) or the caller giving up.
func unavailable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	for _, answer := range []error{ErrLockHeld, ErrNotHeld, ErrInvalidTTL, ErrInvalid, ErrClosed} {
		if errors.Is(err, answer) {
			return false
		}
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		// A reply: only the ones that mean "not serving now", or "not
		// serving this connection" (the password changed, and a dropped
		// connection dialled again without it), count.
		return notServing(rerr) || authRefused(rerr)
	}
	return true
}

// authRefused tells whether a Redis reply refuses the connection's
// credentials: no command of the cache's can succeed on it, as when New's
// probe is refused.
func authRefused(rerr redis.Error) bool {
	msg := rerr.Error()
	return strings.HasPrefix(msg, "NOAUTH") || strings.HasPrefix(msg, "WRONGPASS")
}

// notServing tells whether a Redis reply means "not serving now".
func notServing(rerr redis.Error) bool {
	msg := rerr.Error()
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// refusal tells whether err, from a probe, is Redis answering that it will
// not serve this connection at all (WRONGPASS, NOAUTH, a SELECT of a
// database it lacks): a misconfiguration that waiting does not mend, as
// opposed to silence or a "not serving now" reply.
func refusal(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && !notServing(rerr)
}

// via runs an operation on Redis, or on the local store when Redis is down
// or fails to answer now. A ctx already done is refused before either: up
// or down, the caller gets its context's error, and no fallback is counted.
func via[T any](ctx context.Context, r *Resilient, op, key string,
	remote func(*Redis) (T, error), local func(*Local) (T, error)) (T, error) {
	var zero T
	if r.closed.Load() {
		return zero, fmt.Errorf("resilient %s %q: %w", op, key, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("resilient %s %q: %w", op, key, err)
	}
	if r.healthy.Load() {
		v, err := remote(r.remote)
		if !unavailable(ctx, err) {
			return v, err
		}
		// Logged as New and the probe tell a refusal from an outage.
		r.refused.Store(refusal(err))
		r.markDown(err)
		r.countFallback(op, err)
	} else {
		r.countFallback(op, nil)
	}
	return local(r.local)
}

// markDown switches to the local store, once, after emptying it and carrying
// the fence sequence over.
func (r *Resilient) markDown(error) {
	r.transition.Lock()
	defer r.transition.Unlock()
	if !r.healthy.Load() {
		return
	}
	r.local.reset()
	r.local.observeFence(r.remote.lastFence())
	r.healthy.Store(false)
}

func (r *Resilient) markUp() {
	r.transition.Lock()
	defer r.transition.Unlock()
	if r.healthy.Load() {
		return
	}
	r.remote.observeFence(r.local.lastFence())
	r.healthy.Store(true)
	if logDue(&r.lastUp, r.cfg.LogInterval) {
		r.log.Info("redis answers again; cache coordination is distributed",
			zap.Uint64("fallbacks", r.fallbacks.Load()))
	}
}

func (r *Resilient) countFallback(op string, err error) {
	r.fallbacks.Add(1)
	r.logDown(op, err)
}

// logDown says why the cache fails open: Redis does not answer (an outage,
// a warning), or it answers refusing the connection (a misconfiguration
// that waiting will not mend, an error naming what to check). Each kind
// has its own LogInterval, so the first refusal after an outage is told.
func (r *Resilient) logDown(op string, err error) {
	refused := refusal(err) || (err == nil && r.refused.Load())
	last := &r.lastDown
	if refused {
		last = &r.lastRefuse
	}
	if !logDue(last, r.cfg.LogInterval) {
		return
	}
	fields := []zap.Field{zap.String("op", op), zap.Uint64("fallbacks", r.fallbacks.Load())}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	if refused {
		fields = append(fields, zap.String("url", r.remote.url))
		r.log.Error("redis refuses the cache's connection (check the URL's password, user and database); cache failing open to the local store (this process only)", fields...)
		return
	}
	r.log.Warn("redis unavailable; cache failing open to the local store (this process only)", fields...)
}

// logDue reports whether interval has passed since *last, and claims the slot.
func logDue(last *atomic.Int64, interval time.Duration) bool {
	now := time.Now().UnixNano()
	prev := last.Load()
	if prev != 0 && now-prev < int64(interval) {
		return false
	}
	return last.CompareAndSwap(prev, now)
}

func (r *Resilient) probeLoop() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if r.healthy.Load() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ProbeTimeout)
			err := r.remote.serving(ctx)
			cancel()
			r.refused.Store(refusal(err))
			if err == nil {
				r.markUp()
			} else if refusal(err) {
				r.logDown("probe", err)
			}
		}
	}
}

// GetString reads from Redis, or locally while failing open.
func (r *Resilient) GetString(ctx context.Context, key string) (string, bool, error) {
	if key == "" {
		return "", false, emptyKey("resilient get")
	}
	type res struct {
		v  string
		ok bool
	}
	out, err := via(ctx, r, "get", key,
		func(s *Redis) (res, error) { v, ok, err := s.GetString(ctx, key); return res{v, ok}, err },
		func(s *Local) (res, error) { v, ok, err := s.GetString(ctx, key); return res{v, ok}, err })
	return out.v, out.ok, err
}

// Get reads from Redis, or locally while failing open.
func (r *Resilient) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if key == "" {
		return nil, false, emptyKey("resilient get")
	}
	type res struct {
		v  []byte
		ok bool
	}
	out, err := via(ctx, r, "get", key,
		func(s *Redis) (res, error) { v, ok, err := s.Get(ctx, key); return res{v, ok}, err },
		func(s *Local) (res, error) { v, ok, err := s.Get(ctx, key); return res{v, ok}, err })
	return out.v, out.ok, err
}

// Set writes to Redis, or locally while failing open.
func (r *Resilient) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := r.checkSet(key, ttl); err != nil {
		return err
	}
	_, err := via(ctx, r, "set", key,
		func(s *Redis) (struct{}, error) { return struct{}{}, s.Set(ctx, key, value, ttl) },
		func(s *Local) (struct{}, error) { return struct{}{}, s.Set(ctx, key, value, ttl) })
	return err
}

// SetString writes to Redis, or locally while failing open.
func (r *Resilient) SetString(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := r.checkSet(key, ttl); err != nil {
		return err
	}
	_, err := via(ctx, r, "set", key,
		func(s *Redis) (struct{}, error) { return struct{}{}, s.SetString(ctx, key, value, ttl) },
		func(s *Local) (struct{}, error) { return struct{}{}, s.SetString(ctx, key, value, ttl) })
	return err
}

// Delete deletes in Redis, or locally while failing open.
func (r *Resilient) Delete(ctx context.Context, key string) error {
	if key == "" {
		return emptyKey("resilient delete")
	}
	_, err := via(ctx, r, "delete", key,
		func(s *Redis) (struct{}, error) { return struct{}{}, s.Delete(ctx, key) },
		func(s *Local) (struct{}, error) { return struct{}{}, s.Delete(ctx, key) })
	return err
}

// Fetch is Get, then on a miss one load per key in this process, then Set.
func (r *Resilient) Fetch(ctx context.Context, key string, ttl time.Duration,
	load func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	return fetch(ctx, "resilient fetch", r, &r.flights, key, ttl, load)
}

// Incr increments in Redis, or locally while failing open.
func (r *Resilient) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if key == "" {
		return 0, emptyKey("resilient incr")
	}
	if err := checkTTL("resilient incr", key, ttl); err != nil {
		return 0, err
	}
	return via(ctx, r, "incr", key,
		func(s *Redis) (int64, error) { return s.Incr(ctx, key, delta, ttl) },
		func(s *Local) (int64, error) { return s.Incr(ctx, key, delta, ttl) })
}

// Lock locks in Redis, or locally while failing open. Releasing a Redis lock
// while Redis does not answer counts a fallback and returns nil: the lock
// then expires in Redis after its ttl.
func (r *Resilient) Lock(ctx context.Context, key, owner string, ttl time.Duration) (*Lock, error) {
	if err := lockArgs("resilient lock", key, ttl); err != nil {
		return nil, err
	}
	return via(ctx, r, "lock", key,
		func(s *Redis) (*Lock, error) {
			l, err := s.Lock(ctx, key, owner, ttl)
			if err != nil {
				return nil, err
			}
			inner := l.release
			l.release = func(ctx context.Context) error {
				err := inner(ctx)
				if unavailable(ctx, err) {
					r.countFallback("unlock", err)
					return nil
				}
				return err
			}
			return l, nil
		},
		func(s *Local) (*Lock, error) { return s.Lock(ctx, key, owner, ttl) })
}

// checkSet refuses, before either store sees it, a Set's empty key or
// ttl under a millisecond.
func (r *Resilient) checkSet(key string, ttl time.Duration) error {
	if key == "" {
		return emptyKey("resilient set")
	}
	return checkTTL("resilient set", key, ttl)
}

// Close stops the probe and closes both stores. It is idempotent.
func (r *Resilient) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.stop)
		<-r.done
		err = errors.Join(r.remote.Close(), r.local.Close())
	})
	return err
}
