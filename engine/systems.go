package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/retry"
)

// coordination is the engine's cache and what it coordinates: the shared
// back-off per dependent system and the feature toggles. It is local to
// the process unless Config.Cache declares a distributed backend.
type coordination struct {
	cache   cachex.Cache
	owned   bool // created here, closed by Close
	gate    *cachex.SystemGate
	toggles *cachex.Toggles
	mode    cachex.Detection
}

// coordinate returns the engine's coordination, creating it on first use
// (creating a cache starts goroutines, so engines that never need one
// never start them). It returns nil when the cache cannot be set up: the
// engine then runs without shared back-off (failing open) and says so; and
// when ctx ends before the mode is known, to detect it on the next use.
func (e *Engine) coordinate(ctx context.Context) *coordination {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	if e.co != nil {
		return e.co
	}
	c, owned := e.cfg.CacheStore, false
	if c == nil {
		var err error
		if c, err = cachex.New(e.cfg.Cache, e.log); err != nil {
			e.log.Error("cache unavailable: dependent systems get no shared back-off", zap.Error(err))
			return nil
		}
		owned = true
	}
	co := &coordination{cache: c, owned: owned}
	mode, err := cachex.DetectMode(ctx, c, e.cfg.Cache)
	if err != nil {
		// Only ctx ends it: the caller has given up, and the next use
		// detects again.
		if owned {
			_ = c.Close()
		}
		return nil
	}
	co.mode = mode
	if co.gate, err = cachex.NewSystemGate(c, e.cfg.Breaker, e.clk); err == nil {
		co.toggles, err = cachex.NewToggles(c, engineToggles)
	}
	if err != nil {
		if owned {
			_ = c.Close()
		}
		e.log.Error("coordination unavailable", zap.Error(err))
		return nil
	}
	e.log.Info("coordination mode", zap.String("mode", co.mode.Mode.String()), zap.String("source", co.mode.Source))
	e.co = co
	return co
}

// Close releases what the engine holds outside a Run: the cache it made for
// itself (toggles and shared back-off, created on first use), and the
// watcher of other processes' commits that lingers 100 ms after the last
// Wait. It does not stop a Run — Stop does that, and releases both too, as
// a Run's end does — so Close is for engines used without Run (RunOnce,
// Toggle, Explain). A later use makes a new cache.
func (e *Engine) Close() error {
	if e.far != nil {
		e.far.Close() // the watcher lingering after the last Wait
	}
	return e.releaseCoordination()
}

// releaseCoordination closes the cache the engine made for itself (a Run's
// end, Stop and Close call it; a later use makes a new one).
func (e *Engine) releaseCoordination() error {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	co := e.co
	e.co = nil
	if co != nil && co.owned {
		return co.cache.Close()
	}
	return nil
}

// Status is what the engine reports about itself.
type Status struct {
	// Mode is the coordination mode now: local_only, distributed_basic or
	// distributed_atomic (empty before the cache is first used). With a
	// Redis cache it follows Redis: local_only while Redis is down and the
	// engine fails open, distributed again once Redis answers.
	Mode    string
	Running bool
	Stats   Stats
	// Concurrency is the concurrency limit now, the pool's pressure level
	// and why the limit last changed (the dynamic_concurrency toggle).
	Concurrency ConcurrencyStatus
	// Batch is the claim batch size now and why (the adaptive_batching
	// toggle).
	Batch BatchStatus
	// Cache is, per family of values the engine caches (step_history: the
	// predictive retry's history; report: Report), the reads since the
	// engine was made, their hit rate and the TTL a value gets now (fixed,
	// or adaptive while the adaptive_ttl toggle is on).
	Cache []CacheFamily
}

// CacheFamily is one family's cache reads.
type CacheFamily struct {
	Family       string
	Hits, Misses int64
	HitRate      float64
	TTL          time.Duration
	Adaptive     bool
}

// Status reports the coordination mode, whether Run is active, and totals.
func (e *Engine) Status() Status {
	e.life.mu.Lock()
	running := e.life.cur != nil
	e.life.mu.Unlock()
	st := Status{Running: running, Stats: e.Stats()}
	st.Concurrency, st.Batch = e.tuningStatus()
	e.cmu.Lock()
	co := e.co
	e.cmu.Unlock()
	adaptive := co != nil && co.toggles.Enabled(context.Background(), cachex.ToggleAdaptiveTTL)
	for _, f := range e.vals.Stats() {
		st.Cache = append(st.Cache, CacheFamily{Family: f.Family, Hits: f.Hits, Misses: f.Misses, HitRate: f.HitRate,
			TTL: e.vals.TTL(f.Family, adaptive), Adaptive: adaptive})
	}
	e.cmu.Lock()
	if co := e.co; co != nil {
		st.Mode = co.mode.Mode.String()
		if co.mode.Source == cachex.SourceBuiltin {
			// The built-in caches report their capabilities now (a
			// Redis cache failing open is local until Redis answers).
			st.Mode = cachex.ModeOf(co.cache.Capabilities()).String()
		}
	}
	e.cmu.Unlock()
	return st
}

// Toggle reads a feature toggle (cachex.ToggleDynamicConcurrency, …),
// stored through the engine's cache with safe defaults. A name the engine
// does not know is an error that lists the known ones.
func (e *Engine) Toggle(ctx context.Context, name string) (bool, error) {
	co := e.coordinate(ctx)
	if co == nil {
		return false, noToggles(ctx)
	}
	if err := co.toggles.Known(name); err != nil {
		return false, fmt.Errorf("tasker: %w", err)
	}
	return co.toggles.Enabled(ctx, name), nil
}

// noToggles is the error of Toggle and SetToggle without a coordination:
// the caller's context ended (coordinate gives up then), or there is no
// cache.
func noToggles(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tasker: toggles: %w", err)
	}
	return errors.New("tasker: no cache for toggles")
}

// toggle is Toggle for the engine's own names: off without a cache.
func (e *Engine) toggle(ctx context.Context, name string) bool {
	co := e.coordinate(ctx)
	return co != nil && co.toggles.Enabled(ctx, name)
}

// dynamicConcurrency reports whether the tuner moves the concurrency limit.
func (e *Engine) dynamicConcurrency(ctx context.Context) bool {
	return e.toggle(ctx, cachex.ToggleDynamicConcurrency)
}

// SetToggle sets a feature toggle; on a distributed cache every instance
// sees it. While the distributed cache fails open (Redis does not answer)
// it is refused and sets nothing.
func (e *Engine) SetToggle(ctx context.Context, name string, on bool) error {
	co := e.coordinate(ctx)
	if co == nil {
		return noToggles(ctx)
	}
	if err := co.toggles.Known(name); err != nil {
		return fmt.Errorf("tasker: %w", err) // as Toggle says it
	}
	// Failing open, the cache would store the toggle in this process
	// only and answer nil: no other instance would see it, and this one
	// would read Redis's value again once Redis answers.
	h, failsOpen := co.cache.(interface{ Healthy() bool })
	if failsOpen && !h.Healthy() {
		return fmt.Errorf("tasker: setting toggle %q: Redis does not answer (the cache fails open to this process): not set", name)
	}
	if err := co.toggles.Set(ctx, name, on); err != nil {
		return err
	}
	if failsOpen && !h.Healthy() {
		return fmt.Errorf("tasker: setting toggle %q: Redis stopped answering during the write: set in this process only", name)
	}
	return nil
}

// systemHold reports how long a step calling system must wait before it
// may run: until a pause ends, or a breaker recheck while it is open. A
// step let through a half-open breaker holds its probe: systemResult tells
// the breaker the attempt's outcome, or the probe is given back
// (Probe.Release) when the attempt ends without one.
func (e *Engine) systemHold(ctx context.Context, system string) (time.Duration, cachex.Probe, bool) {
	return e.gateHold(ctx, system, (*cachex.SystemGate).Acquire)
}

// gateHold is systemHold asking allow whether the breaker lets a call
// through (the gate's Acquire, which hands out a half-open breaker's
// probes; Explain asks its Peek, which does not, in explainHold).
func (e *Engine) gateHold(ctx context.Context, system string, allow func(*cachex.SystemGate, context.Context, string) (cachex.Probe, bool)) (time.Duration, cachex.Probe, bool) {
	if system == "" {
		return 0, cachex.Probe{}, false
	}
	co := e.coordinate(ctx)
	if co == nil {
		return 0, cachex.Probe{}, false
	}
	if until, paused := co.gate.PausedUntil(ctx, system); paused {
		return until.Sub(e.clk.Now()), cachex.Probe{}, true
	}
	probe, ok := allow(co.gate, ctx, system)
	if !ok {
		return breakerRecheck, cachex.Probe{}, true
	}
	return 0, probe, false
}

// breakerRecheck is how soon a step held by an open breaker looks again.
const breakerRecheck = time.Second

// systemResult feeds an attempt's outcome to the system's breaker and, for
// a retryable error with a requested delay (a 429's Retry-After), pauses
// the system for every worker sharing the cache. It returns the pause
// that is in force, so the step's own retry waits at least as long. The
// attempt's probe (systemHold) is counted, or given back when the error
// says nothing of the system (aboutTheSystem). The success of an attempt
// that took no probe, told while the breaker is half-open, is not counted.
func (e *Engine) systemResult(ctx context.Context, system string, probe cachex.Probe, err error) time.Duration {
	if system == "" {
		return 0
	}
	// The attempt's context may be over (its workflow's deadline passed
	// while it ran), and the caches refuse a call on one that is: what it
	// says of the system is told all the same.
	ctx = context.WithoutCancel(ctx)
	co := e.coordinate(ctx)
	if co == nil {
		return 0
	}
	// A success of an attempt let through while the breaker was closed
	// (it took no probe), told once the breaker is half-open, is news from
	// before the opening: Record would take it for a probe's success and
	// close the breaker before any probe reached the system. RecordAttempt,
	// told the probe, decides that as it records (a state read before
	// could change before the recording).
	if !aboutTheSystem(err) {
		probe.Release()
	} else if rerr := co.gate.RecordAttempt(ctx, system, probe, err == nil); rerr != nil {
		e.log.Warn("publishing a breaker opening failed", zap.String("system", system), zap.Error(rerr))
	}
	var re *RetryableError
	if errors.As(err, &re) && re.RetryAfter > 0 {
		// Bounded as the step's own retry is (retry.Policy.Next): a bad
		// header (90 days) would otherwise hold the system, and through
		// the pause the step itself, past retry.MaxRequested.
		until := e.clk.Now().Add(min(re.RetryAfter, retry.MaxRequested))
		if perr := co.gate.Pause(ctx, system, until); perr != nil {
			e.log.Warn("pausing a dependent system failed", zap.String("system", system), zap.Error(perr))
		}
	}
	if until, paused := co.gate.PausedUntil(ctx, system); paused {
		return until.Sub(e.clk.Now())
	}
	return 0
}

// aboutTheSystem reports whether an attempt's error (nil for a success)
// says anything of the system the step calls, and so feeds its breaker. A
// permanent error (a bad request), a handler's panic (a bug of this
// binary) and a step this worker has no handler for (a deployment without
// it) do not: counted, one binary's bug would open the breaker for every
// worker sharing the cache.
func aboutTheSystem(err error) bool {
	var perm *PermanentError
	var pe *PanicError
	var nh *noHandlerError
	return !errors.As(err, &perm) && !errors.As(err, &pe) && !errors.As(err, &nh)
}
