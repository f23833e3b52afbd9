package cachex

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// Cache keys of the system gate (under PrefixCache; locks under PrefixLock).
const (
	gatePauseKey = "gate:pause:"
	gateOpenKey  = "gate:open:"
)

// latestStored is the latest time the gate can store: it writes times as
// Unix nanoseconds, and a later one wrapped (UnixNano is undefined past
// it) to a time long past, a pause that held nothing back.
var latestStored = time.Unix(0, math.MaxInt64).UTC()

// gateLockTTL bounds how long a crashed writer can block the
// read-modify-write of a gate key.
const gateLockTTL = 5 * time.Second

// SystemGate is the shared back-off for the systems the engine depends on
// (an API, a database, a queue). It combines:
//
//   - pauses: Pause(system, until) stops calls until a time, e.g. after a
//     429 with Retry-After; a later pause wins over an earlier one;
//   - a circuit breaker per system, closed, open or half-open, opened by
//     consecutive failures or by the error rate over a window.
//
// Pauses and breaker openings are stored through the Cache. On a local
// store they are shared by this process only; on Redis every process that
// uses the same Redis and namespace sees them, so one instance's 429 or
// tripped breaker holds back all of them. Failures are counted per process;
// only the decision to open is published. Stored times are absolute, so the
// instances' clocks should agree to well within the pause lengths used.
//
// A cache error never blocks a call: a pause or opening that cannot be read
// counts as absent (fail open).
type SystemGate struct {
	cache Cache
	cfg   BreakerConfig
	clock Clock

	mu       sync.Mutex
	breakers map[string]*breaker
}

// NewSystemGate creates a gate over c. A nil clock is the system clock.
func NewSystemGate(c Cache, cfg BreakerConfig, clock Clock) (*SystemGate, error) {
	if c == nil {
		return nil, errors.New("system gate: cache is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("system gate config: %w", err)
	}
	if clock == nil {
		clock = wallClock{}
	}
	return &SystemGate{cache: c, cfg: cfg.withDefaults(), clock: clock, breakers: make(map[string]*breaker)}, nil
}

// Pause holds calls to system back until the given time, unless an existing
// pause already lasts longer; a time already past changes nothing. An empty
// system name is refused (ErrInvalid), as Record refuses it: "" is never
// paused or tripped, so Allow("") is always true. The zero time is refused
// too (ErrInvalid): a Retry-After that did not parse, or a field left
// unset, would read as a pause long over and hold nothing back. So is a
// time after 2262-04-11, which the gate cannot store (Unix nanoseconds).
func (g *SystemGate) Pause(ctx context.Context, system string, until time.Time) error {
	if system == "" {
		return fmt.Errorf("pause: %w: the system name is empty", ErrInvalid)
	}
	if until.IsZero() {
		return fmt.Errorf("pause %s: %w: until is the zero time", system, ErrInvalid)
	}
	if until.After(latestStored) {
		return fmt.Errorf("pause %s: %w: until %s is after %s, the latest time the gate stores (Unix nanoseconds)", system, ErrInvalid, until, latestStored.Format(time.DateOnly))
	}
	if err := g.extend(ctx, gatePauseKey+system, until); err != nil {
		return fmt.Errorf("pause %s: %w", system, err)
	}
	return nil
}

// PausedUntil returns the end of the pause of system, if one is in force.
func (g *SystemGate) PausedUntil(ctx context.Context, system string) (time.Time, bool) {
	until, ok, err := g.read(ctx, gatePauseKey+system)
	if err != nil || !ok || !until.After(g.clock.Now()) {
		return time.Time{}, false
	}
	return until, true
}

// Allow reports whether a call to system may go ahead now: no pause in
// force and the breaker not open (a half-open breaker lets
// HalfOpenProbes calls through). Every call let through should be followed
// by Record; one that may end without an outcome (skipped, abandoned) asks
// Acquire instead, to give its probe back.
func (g *SystemGate) Allow(ctx context.Context, system string) bool {
	_, ok := g.Acquire(ctx, system)
	return ok
}

// Probe is one of a half-open breaker's probes, taken by Acquire. A call
// that took one and whose outcome is not recorded (it was skipped, refused
// as a bad request, abandoned) gives it back with Release: otherwise the
// breaker refuses every call until OpenFor passes again, though nobody is
// probing. The zero Probe is none.
type Probe struct {
	g      *SystemGate
	system string
	round  uint64
	// released is shared by the probe's copies (it is a value, easily
	// handed around), so that only its first Release gives it back: a
	// second freed a probe still out (guarded by g.mu).
	released *bool
}

// Acquire is Allow that also returns the half-open breaker's probe the
// call took (the zero Probe when the breaker was closed, or the call was
// refused). Record the call's outcome, or Release the probe.
func (g *SystemGate) Acquire(ctx context.Context, system string) (Probe, bool) {
	if _, paused := g.PausedUntil(ctx, system); paused {
		return Probe{}, false
	}
	openUntil, shared, err := g.read(ctx, gateOpenKey+system)
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.breaker(system)
	if err == nil && shared {
		b.observeOpen(openUntil, now)
	}
	if !b.allow(now) {
		return Probe{}, false
	}
	if b.state != BreakerHalfOpen {
		return Probe{}, true
	}
	return Probe{g: g, system: system, round: b.round, released: new(bool)}, true
}

// Release gives the probe back without counting a success or a failure:
// the next call may probe the system. Release a probe only when its
// outcome is not recorded. A zero Probe, one already released (it or a
// copy of it), or one whose breaker has since closed, reopened or started
// a fresh round of probes, changes nothing.
func (p Probe) Release() {
	if p.g == nil {
		return
	}
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	if *p.released {
		return
	}
	*p.released = true
	if b, ok := p.g.breakers[p.system]; ok {
		b.release(p.round)
	}
}

// Peek is Allow that takes nothing: whether a call to system would be let
// through now, without handing out one of a half-open breaker's probes.
// It is for reports (the engine's Explain): one that asked Allow took the
// probe meant for the next call, which was then held back for another
// open period.
func (g *SystemGate) Peek(ctx context.Context, system string) bool {
	if _, paused := g.PausedUntil(ctx, system); paused {
		return false
	}
	openUntil, shared, err := g.read(ctx, gateOpenKey+system)
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	b := breaker{cfg: g.cfg}
	if cur, ok := g.breakers[system]; ok {
		b = *cur // a copy: its probes are not counted
	}
	if err == nil && shared {
		b.observeOpen(openUntil, now)
	}
	return b.allow(now)
}

// Record reports the outcome of a call to system. When it opens the
// breaker, the opening is published through the cache so every instance
// sharing it backs off; that write's error is returned. An empty system
// name is refused (ErrInvalid), and nothing is recorded. While the breaker
// is half-open a success counts as a probe's only while a probe is out:
// with none out it is a late result of a call let through before the
// breaker opened, and changes nothing (as any result does while it is
// open).
func (g *SystemGate) Record(ctx context.Context, system string, success bool) error {
	return g.recordOutcome(ctx, system, success, false)
}

// RecordAttempt is Record for a call that says which probe it took
// (Acquire; the zero Probe: none). A success of a call that took none,
// told while the breaker is half-open, is a late result of a call let
// through before the breaker opened, and changes nothing even while
// another call's probe is out (Record would take it for that probe's
// success and close the breaker). Whether the breaker is half-open is
// decided with the recording, under one hold of the gate: a caller that
// read State first and recorded after could see the breaker closed, and
// have it open and hand out a probe in between.
func (g *SystemGate) RecordAttempt(ctx context.Context, system string, probe Probe, success bool) error {
	return g.recordOutcome(ctx, system, success, probe == Probe{})
}

// recordOutcome is Record; unprobed says the call took no probe.
func (g *SystemGate) recordOutcome(ctx context.Context, system string, success, unprobed bool) error {
	if system == "" {
		return fmt.Errorf("record: %w: the system name is empty", ErrInvalid)
	}
	now := g.clock.Now()
	g.mu.Lock()
	b := g.breaker(system)
	var opened bool
	var until time.Time
	if !success || !unprobed || b.current(now) != BreakerHalfOpen {
		opened, until = b.record(success, now)
	}
	g.mu.Unlock()
	if !opened {
		return nil
	}
	if err := g.extend(ctx, gateOpenKey+system, until); err != nil {
		return fmt.Errorf("publish open breaker %s: %w", system, err)
	}
	return nil
}

// State is the breaker state of system as this process last saw it (Allow
// reads the published openings of other instances).
func (g *SystemGate) State(system string) BreakerState {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if b, ok := g.breakers[system]; ok {
		return b.current(now)
	}
	return BreakerClosed
}

// breaker returns system's breaker; g.mu must be held.
func (g *SystemGate) breaker(system string) *breaker {
	b, ok := g.breakers[system]
	if !ok {
		b = &breaker{cfg: g.cfg}
		g.breakers[system] = b
	}
	return b
}

func (g *SystemGate) read(ctx context.Context, key string) (time.Time, bool, error) {
	s, ok, err := g.cache.GetString(ctx, key)
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("gate key %q holds %q: %w", key, s, err)
	}
	return time.Unix(0, n), true, nil
}

// extend sets key to until unless it already holds a later time. The
// read-modify-write runs under a cache lock, so concurrent writers, in this
// process or (on Redis) in others, cannot lose the later time.
func (g *SystemGate) extend(ctx context.Context, key string, until time.Time) error {
	if !until.After(g.clock.Now()) {
		return nil // already over
	}
	lock, err := g.lock(ctx, key)
	if err != nil {
		return err
	}
	// The release is cleanup: a caller whose ctx ends meanwhile must not
	// leave every other writer of key waiting out gateLockTTL.
	defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
	cur, ok, err := g.read(ctx, key)
	if err != nil {
		return err
	}
	if ok && !until.After(cur) {
		return nil
	}
	now := g.clock.Now()
	// The stored time decides; the TTL (with a second of slack) only
	// collects the key afterwards.
	ttl := max(until.Sub(now), 0) + time.Second
	return g.cache.SetString(ctx, key, strconv.FormatInt(until.UnixNano(), 10), ttl)
}

// lock takes the gate lock of key, retrying briefly while another writer
// holds it (writers hold it for two cache round trips).
func (g *SystemGate) lock(ctx context.Context, key string) (*Lock, error) {
	backoff := time.Millisecond
	for attempt := 0; ; attempt++ {
		l, err := g.cache.Lock(ctx, key, "", gateLockTTL)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, ErrLockHeld) || attempt == 100 {
			return nil, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}
