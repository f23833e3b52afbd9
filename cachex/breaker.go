package cachex

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// BreakerState is the state of a circuit breaker.
type BreakerState int

const (
	// BreakerClosed lets every call through.
	BreakerClosed BreakerState = iota
	// BreakerOpen refuses calls until the open period ends.
	BreakerOpen
	// BreakerHalfOpen lets a few probe calls through to test recovery.
	BreakerHalfOpen
)

// String returns closed, open or half_open.
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half_open"
	}
	return "unknown"
}

// BreakerConfig sets when a system's breaker opens and how it recovers.
// Zero fields take the defaults shown. A duration is 0 (its default) or at
// least a millisecond: a bare number is nanoseconds (OpenFor: 30 is 30 ns,
// not 30 s), so a shorter one is refused.
type BreakerConfig struct {
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row. Default 5.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// ErrorRate opens the breaker when the share of failures over Window
	// reaches it (with at least MinRequests calls). Zero disables it.
	ErrorRate float64 `yaml:"error_rate"`
	// Window is the span ErrorRate is measured over. Default 30s; set
	// without ErrorRate it is refused.
	Window time.Duration `yaml:"window"`
	// MinRequests is the least number of calls in Window before ErrorRate
	// applies. Default 10; set without ErrorRate it is refused.
	MinRequests int `yaml:"min_requests"`
	// OpenFor is how long an open breaker refuses calls. Default 30s.
	OpenFor time.Duration `yaml:"open_for"`
	// HalfOpenProbes is how many calls a half-open breaker lets through, and
	// how many must succeed to close it. Default 1.
	HalfOpenProbes int `yaml:"half_open_probes"`
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = 5
	}
	c.Window = orDefault(c.Window, 30*time.Second)
	if c.MinRequests == 0 {
		c.MinRequests = 10
	}
	c.OpenFor = orDefault(c.OpenFor, 30*time.Second)
	if c.HalfOpenProbes == 0 {
		c.HalfOpenProbes = 1
	}
	return c
}

// Validate reports every problem of the configuration at once.
func (c BreakerConfig) Validate() error {
	var errs []error
	if c.ConsecutiveFailures < 0 {
		errs = append(errs, fmt.Errorf("consecutive_failures must not be negative, got %d", c.ConsecutiveFailures))
	}
	if c.ErrorRate < 0 || c.ErrorRate > 1 || math.IsNaN(c.ErrorRate) {
		errs = append(errs, fmt.Errorf("error_rate must be in [0, 1], got %v", c.ErrorRate))
	}
	errs = validDuration(errs, "window", c.Window)
	if c.MinRequests < 0 {
		errs = append(errs, fmt.Errorf("min_requests must not be negative, got %d", c.MinRequests))
	}
	// Window and MinRequests shape the error rate alone: with ErrorRate
	// zero (off) they would do nothing.
	if c.ErrorRate == 0 && c.Window > 0 {
		errs = append(errs, fmt.Errorf("window %v: it is the span error_rate is measured over, and error_rate is 0 (off): set error_rate or leave window out", c.Window))
	}
	if c.ErrorRate == 0 && c.MinRequests > 0 {
		errs = append(errs, fmt.Errorf("min_requests %d: it is the least number of calls before error_rate applies, and error_rate is 0 (off): set error_rate or leave min_requests out", c.MinRequests))
	}
	errs = validDuration(errs, "open_for", c.OpenFor)
	if c.HalfOpenProbes < 0 {
		errs = append(errs, fmt.Errorf("half_open_probes must not be negative, got %d", c.HalfOpenProbes))
	}
	return errors.Join(errs...)
}

// windowBuckets is the resolution of the error-rate window.
const windowBuckets = 10

type windowBucket struct {
	slot     int64 // which Window/windowBuckets slice of time this counts
	total    int
	failures int
}

// breaker is one system's breaker as this process sees it. It is not safe
// for concurrent use; SystemGate guards it.
type breaker struct {
	cfg         BreakerConfig
	state       BreakerState
	consecutive int
	buckets     [windowBuckets]windowBucket
	openUntil   time.Time
	probes      int       // half-open: calls let through
	successes   int       // half-open: probes that succeeded
	probedAt    time.Time // half-open: when the current probes started
	// round numbers the half-open rounds of probes: a probe given back
	// (Probe.Release) counts only in the round that handed it out.
	round uint64
}

// observeOpen adopts an open period decided elsewhere (another process).
func (b *breaker) observeOpen(until, now time.Time) {
	if !until.After(now) {
		return
	}
	if until.After(b.openUntil) {
		b.openUntil = until
	}
	b.state = BreakerOpen
}

// allow decides on one call.
func (b *breaker) allow(now time.Time) bool {
	if b.state == BreakerOpen {
		if now.Before(b.openUntil) {
			return false
		}
		b.state, b.probes, b.successes, b.probedAt = BreakerHalfOpen, 0, 0, now
		b.round++
	}
	if b.state == BreakerHalfOpen {
		// Probes whose outcome was never recorded must not keep the
		// breaker half-open for ever: after OpenFor, probe afresh.
		if now.Sub(b.probedAt) >= b.cfg.OpenFor {
			b.probes, b.successes, b.probedAt = 0, 0, now
			b.round++
		}
		if b.probes >= b.cfg.HalfOpenProbes {
			return false
		}
		b.probes++
	}
	return true
}

// release gives back a probe of round whose outcome will not be recorded;
// a probe of an earlier round (the breaker has closed, reopened or probed
// afresh since) is not counted any more and changes nothing.
func (b *breaker) release(round uint64) {
	if b.state == BreakerHalfOpen && b.round == round && b.probes > b.successes {
		b.probes--
	}
}

// record counts one outcome and reports the end of the open period when the
// breaker has just opened.
func (b *breaker) record(success bool, now time.Time) (opened bool, until time.Time) {
	switch b.state {
	case BreakerOpen:
		return false, time.Time{} // a late result of a call let through before
	case BreakerHalfOpen:
		if !success {
			return b.open(now)
		}
		if b.probes <= b.successes {
			// No probe is out (every one recorded or given back): a late
			// success of a call let through before the breaker opened,
			// which says nothing of its recovery. (One arriving while a
			// probe is out cannot be told from the probe's: Record does
			// not say which call it reports; SystemGate.Acquire's Probe
			// does.)
			return false, time.Time{}
		}
		b.successes++
		if b.successes >= b.cfg.HalfOpenProbes {
			b.close()
		}
		return false, time.Time{}
	}
	b.count(success, now)
	if success {
		b.consecutive = 0
		return false, time.Time{}
	}
	b.consecutive++
	if b.consecutive >= b.cfg.ConsecutiveFailures {
		return b.open(now)
	}
	if b.cfg.ErrorRate > 0 {
		total, failures := b.window(now)
		if total >= b.cfg.MinRequests && float64(failures) >= b.cfg.ErrorRate*float64(total) {
			return b.open(now)
		}
	}
	return false, time.Time{}
}

func (b *breaker) open(now time.Time) (bool, time.Time) {
	b.state = BreakerOpen
	b.openUntil = now.Add(b.cfg.OpenFor)
	b.consecutive = 0
	b.buckets = [windowBuckets]windowBucket{}
	return true, b.openUntil
}

func (b *breaker) close() {
	b.state = BreakerClosed
	b.consecutive, b.probes, b.successes = 0, 0, 0
	b.buckets = [windowBuckets]windowBucket{}
}

func (b *breaker) slot(now time.Time) int64 {
	return now.UnixNano() / max(int64(b.cfg.Window/windowBuckets), 1)
}

func (b *breaker) count(success bool, now time.Time) {
	s := b.slot(now)
	bk := &b.buckets[(s%windowBuckets+windowBuckets)%windowBuckets]
	if bk.slot != s {
		*bk = windowBucket{slot: s}
	}
	bk.total++
	if !success {
		bk.failures++
	}
}

// window sums the buckets still inside the window.
func (b *breaker) window(now time.Time) (total, failures int) {
	s := b.slot(now)
	for _, bk := range b.buckets {
		if bk.total > 0 && s-bk.slot < windowBuckets {
			total += bk.total
			failures += bk.failures
		}
	}
	return total, failures
}

// current is the state as a caller would see it now.
func (b *breaker) current(now time.Time) BreakerState {
	if b.state == BreakerOpen && !now.Before(b.openUntil) {
		return BreakerHalfOpen
	}
	return b.state
}
