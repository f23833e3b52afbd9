// Package tuner moves the dispatcher's concurrency limit between a minimum
// and a maximum, from two readings taken every interval: the pressure on
// the store's connection pool (the original plan's levels and its 60 %
// safety share) and how the running handlers spend their time — waiting
// (I/O-bound: they may outnumber the pool's connections, since a waiting
// handler holds none) or computing (CPU-bound: more of them than the
// machine runs at once only queue).
//
// Decide is the rule, a pure function; Tuner applies it and remembers why
// the limit last changed.
package tuner

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/dispatch"
	"github.com/tasker-go/tasker/engine/internal/pressure"
	"github.com/tasker-go/tasker/internal/clock"
)

// SafeShare is the plan's MAX_SAFE_CONNECTION_PERCENTAGE: the tuner grows
// the limit only while less than this share of the pool is in use, and
// CPU-bound handlers get no more slots than this share of the pool.
const SafeShare = 0.6

// Sample is what one decision sees.
type Sample struct {
	Cur, Lo, Hi int
	// Running is the slots taken at the sample (handlers and claims).
	Running int
	Pool    pressure.Reading
	// Handler is the handlers' wall time during the interval, CPU the
	// process's CPU time (CPUKnown false where it cannot be read).
	Handler, CPU time.Duration
	CPUKnown     bool
	Interval     time.Duration
	Procs        int // GOMAXPROCS
	// Backlog: the claim loop last found more ready work than it had
	// room for.
	Backlog bool
}

// Decision is the next limit and why.
type Decision struct {
	Next   int
	Reason string
	// Ramp: the limit grew because work is waiting on a quiet pool; the
	// next decision comes sooner (RampInterval), so a burst does not
	// wait seconds for the limit to catch up with it.
	Ramp bool
}

// RampFactor is the growth per decision while I/O-bound handlers have a
// backlog and the pool's pressure is low; RampDivisor divides the
// interval to the next decision after such a step (and after the start).
const (
	RampFactor  = 4
	RampDivisor = 4
)

// computeShare is the CPU time per handler-second above which handlers
// count as CPU-bound; busyShare the share of the machine's CPU above which
// more handlers cannot run faster.
const (
	computeShare = 0.5
	busyShare    = 0.9
	demandShare  = 0.9
)

// Decide is the rule, in order:
//
//  1. pool critical (≥ 85 % of its connections in use): halve the limit;
//  2. pool high (≥ 70 %, or callers waited for a connection since the
//     last reading): × 0.7;
//  3. more than the safety share (60 %) in use: a tenth fewer;
//  4. otherwise, if handlers are CPU-bound (CPU ≥ half their wall time)
//     the ceiling is the pool's safety share (at least GOMAXPROCS), else
//     Hi; a limit above its ceiling comes down to it;
//  5. the process's CPU is saturated (≥ 90 % of GOMAXPROCS): hold;
//  6. the limit is nearly used (≥ 90 % of slots taken): grow up to the
//     ceiling — I/O-bound handlers with ready work waiting (a backlog)
//     on a pool of low pressure: × RampFactor, and the next decision
//     comes after a RampDivisor-th of the interval (a ramp); I/O-bound
//     otherwise: double; CPU-bound or unknown: by a quarter;
//  7. else hold.
//
// The result is always within [Lo, Hi].
func Decide(s Sample) Decision {
	clamp := func(n int) int { return min(s.Hi, max(s.Lo, n)) }
	p := s.Pool
	pool := fmt.Sprintf("pool %s (%.0f%% in use, %d waits)", p.Level, 100*p.Utilisation, p.Waits)
	switch {
	case p.Level == pressure.Critical:
		return Decision{Next: clamp(s.Cur / 2), Reason: pool + ": halved"}
	case p.Level == pressure.High:
		return Decision{Next: clamp(s.Cur * 7 / 10), Reason: pool + ": x0.7"}
	case p.Utilisation > SafeShare:
		return Decision{Next: clamp(s.Cur * 9 / 10), Reason: pool + ": above the 60% safety share, a tenth fewer"}
	}
	if s.Handler <= 0 {
		return Decision{Next: clamp(s.Cur), Reason: pool + "; no handler ran: hold"}
	}
	cpuBound := s.CPUKnown && float64(s.CPU) >= computeShare*float64(s.Handler)
	ceiling, kind := s.Hi, "I/O-bound"
	if !s.CPUKnown {
		kind = "handlers' CPU unknown"
	}
	if cpuBound {
		kind = "CPU-bound"
		share := max(s.Procs, int(SafeShare*float64(p.MaxOpen)))
		if p.MaxOpen == 0 {
			share = 2 * s.Procs
		}
		ceiling = clamp(share)
	}
	what := fmt.Sprintf("%s; handlers %s (CPU %.0f%% of their wall time)", pool, kind, 100*float64(s.CPU)/float64(s.Handler))
	switch {
	case s.Cur > ceiling:
		return Decision{Next: ceiling, Reason: what + ": down to the ceiling"}
	case s.CPUKnown && s.Interval > 0 && float64(s.CPU) >= busyShare*float64(s.Procs)*float64(s.Interval):
		return Decision{Next: clamp(s.Cur), Reason: what + "; CPU saturated: hold"}
	case float64(s.Running) >= demandShare*float64(s.Cur):
		ioBound := !cpuBound && s.CPUKnown
		if ioBound && s.Backlog && p.Level == pressure.Low {
			// Work is waiting, the pool is quiet and handlers wait: ramp
			// (the pool's readings, taken as often, bring it back).
			next := min(ceiling, clamp(s.Cur*RampFactor))
			return Decision{Next: next, Reason: fmt.Sprintf("%s; limit nearly used, work waiting: grow x%d (ramp)", what, RampFactor), Ramp: next > s.Cur}
		}
		step := max(1, s.Cur/4)
		if ioBound {
			step = s.Cur // waiting handlers: double (the pool's readings bring it back)
		}
		return Decision{Next: min(ceiling, clamp(s.Cur+step)), Reason: what + "; limit nearly used: grow"}
	}
	return Decision{Next: clamp(s.Cur), Reason: what + "; room to spare: hold"}
}

// Start is the limit the tuner starts from: the pool's safety share within
// the bounds (Hi for a pool without a maximum).
func Start(lo, hi, maxOpen int) int {
	if maxOpen == 0 {
		return hi
	}
	return min(hi, max(lo, int(SafeShare*float64(maxOpen))))
}

// Config bounds the limit.
type Config struct {
	Min, Max int
	Interval time.Duration
	// Fixed keeps the limit at Max whatever the toggle says (on SQLite
	// every write goes through one connection by design, so waiting for
	// it says nothing about how many handlers may run).
	Fixed bool
}

// Status is what the tuner last did.
type Status struct {
	Enabled bool
	Limit   int
	Level   pressure.Level
	// Reason says why the limit last changed, At when.
	Reason string
	At     time.Time
}

// Tuner re-evaluates the limit on each Step (the engine steps it every
// Interval).
type Tuner struct {
	cfg   Config
	press *pressure.Monitor
	clk   clock.Clock
	log   *zap.Logger
	disp  *dispatch.Dispatcher
	// enabled says whether tuning is on now (a feature toggle); off, the
	// limit is Max.
	enabled func(context.Context) bool
	// backlog says whether the claim loop has ready work waiting for
	// room (nil: never).
	backlog func() bool

	mu      sync.Mutex
	on      bool
	lastAt  time.Time
	handler time.Duration
	cpu     time.Duration
	cpuOK   bool
	ramp    bool // the last decision ramped: the next comes sooner
	status  Status
}

// New returns a tuner reading the pool's pressure from press; backlog
// (may be nil) says whether ready work waits for room.
func New(cfg Config, press *pressure.Monitor, clk clock.Clock, log *zap.Logger, disp *dispatch.Dispatcher, enabled func(context.Context) bool, backlog func() bool) *Tuner {
	t := &Tuner{cfg: cfg, press: press, clk: clk, log: log, disp: disp, enabled: enabled, backlog: backlog}
	t.status = Status{Limit: disp.Max(), Reason: "the configured maximum"}
	switch {
	case cfg.Fixed:
		t.status.Reason = "the configured maximum (single-writer store: not tuned)"
	case cfg.Min >= cfg.Max:
		t.status.Reason = "the configured maximum (the minimum is the same: not tuned)"
	}
	return t
}

// Step takes one reading and applies the rule (or, with the toggle off,
// puts the limit back to Max).
func (t *Tuner) Step(ctx context.Context) {
	if t.cfg.Fixed {
		return
	}
	if t.cfg.Min >= t.cfg.Max {
		// Not tuned, but the pool is there to read: Status says its level
		// (it said low, a reading never taken).
		level := t.press.Fresh(t.cfg.Interval / 2).Level
		t.mu.Lock()
		t.status.Level = level
		t.mu.Unlock()
		return
	}
	on := t.enabled(ctx)
	now := t.clk.Now()
	reading := t.press.Fresh(t.Wait() / 2)
	handler := t.disp.HandlerTime()
	cpu, cpuOK := processCPU()

	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.disp.Max()
	var d Decision
	switch {
	case !on:
		d = Decision{Next: t.cfg.Max, Reason: "dynamic_concurrency is off: the configured maximum"}
	case !t.on:
		d = Decision{Next: Start(t.cfg.Min, t.cfg.Max, reading.MaxOpen), Reason: "dynamic_concurrency switched on: start at the pool's 60% safety share", Ramp: true}
	default:
		d = Decide(Sample{Cur: cur, Lo: t.cfg.Min, Hi: t.cfg.Max, Running: t.disp.Running(), Pool: reading,
			Handler: handler - t.handler, CPU: cpu - t.cpu, CPUKnown: cpuOK && t.cpuOK,
			Interval: now.Sub(t.lastAt), Procs: runtime.GOMAXPROCS(0), Backlog: t.backlog != nil && t.backlog()})
	}
	t.ramp = d.Ramp
	t.on, t.lastAt, t.handler, t.cpu, t.cpuOK = on, now, handler, cpu, cpuOK
	t.status.Enabled, t.status.Level = on, reading.Level
	if d.Next != cur {
		t.disp.SetMax(d.Next)
		t.status.Limit, t.status.Reason, t.status.At = d.Next, fmt.Sprintf("%d -> %d: %s", cur, d.Next, d.Reason), now
		t.log.Debug("concurrency limit changed", zap.Int("from", cur), zap.Int("to", d.Next), zap.String("why", d.Reason))
	}
}

// Wait is how long until the next Step: Interval, or a RampDivisor-th of
// it after a ramp (or the start), while the limit catches up with a burst.
func (t *Tuner) Wait() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ramp {
		return t.cfg.Interval / RampDivisor
	}
	return t.cfg.Interval
}

// Status reports the limit now, the pool's level at the last step and why
// the limit last changed.
func (t *Tuner) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.status
	s.Limit = t.disp.Max()
	return s
}
