// Package retry computes when a failed step runs again. It is pure: no I/O,
// no clocks, randomness passed in.
//
// One formula and one cap: exponential backoff with full jitter. For the
// n-th failed attempt (n ≥ 1) the ceiling is min(Max, Base·2^(n-1)) and the
// delay is drawn uniformly from [0, ceiling]. Full jitter spreads retries of
// many steps that failed together (a dependency coming back up) instead of
// sending them back in lockstep.
//
// A delay the failing code asks for (an HTTP Retry-After, passed as
// engine.Retryable(err, d)) replaces the formula: the step runs again after
// exactly that delay, even when it is shorter than the formula's draw or
// longer than Max (a server that says "come back in 10 minutes" means it;
// Temporal's next-retry-delay works the same way). Only MaxRequested, an
// absolute ceiling, bounds it, so one bad header cannot park a step for
// months.
package retry

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Defaults for Policy.
const (
	DefaultBase = time.Second
	DefaultMax  = 5 * time.Minute
)

// Policy is an exponential backoff with full jitter.
type Policy struct {
	Base time.Duration `json:"base,omitempty"`
	Max  time.Duration `json:"max,omitempty"`
	// NoJitter makes Delay return the ceiling itself (for tests and for
	// callers that add their own spreading).
	NoJitter bool `json:"no_jitter,omitempty"`
}

// Validate reports every problem at once. Base and Max are each 0 (the
// default) or at least a millisecond: a bare number is nanoseconds (Base: 2
// is 2 ns, not 2 s), so a shorter one is refused.
func (p Policy) Validate() error {
	var errs []error
	if p.Base < 0 {
		errs = append(errs, fmt.Errorf("retry base must not be negative, got %s", p.Base))
	}
	if p.Max < 0 {
		errs = append(errs, fmt.Errorf("retry max must not be negative, got %s", p.Max))
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"base", p.Base}, {"max", p.Max}} {
		if f.d > 0 && f.d < time.Millisecond {
			errs = append(errs, fmt.Errorf("retry %s %s is under a millisecond: a bare number is nanoseconds (write 2 * time.Second, not 2)", f.name, f.d))
		}
	}
	if p.Base > 0 && p.Max > 0 && p.Max < p.Base {
		errs = append(errs, fmt.Errorf("retry max %s is below base %s", p.Max, p.Base))
	}
	// A zero Max is DefaultMax: a Base above it would be capped at every
	// attempt, the Base given doing nothing.
	if p.Max == 0 && p.Base > DefaultMax {
		errs = append(errs, fmt.Errorf("retry base %s is above the default max %s, which would cap every delay: set max too", p.Base, DefaultMax))
	}
	return errors.Join(errs...)
}

// WithDefaults fills zero fields with DefaultBase and DefaultMax.
func (p Policy) WithDefaults() Policy {
	if p.Base == 0 {
		p.Base = DefaultBase
	}
	if p.Max == 0 {
		p.Max = DefaultMax
	}
	return p
}

// Ceiling is the largest delay after the n-th failed attempt.
func (p Policy) Ceiling(attempt int) time.Duration {
	p = p.WithDefaults()
	if attempt < 1 {
		attempt = 1
	}
	exp := math.Ldexp(float64(p.Base), attempt-1)
	if exp >= float64(p.Max) {
		return p.Max
	}
	return time.Duration(exp)
}

// Delay is the wait after the n-th failed attempt; u is a uniform number in
// [0, 1) (pass rand.Float64() or a fixed value in tests). A u outside it is
// taken as its nearest end (NaN as 0), so the delay stays within [0, the
// ceiling]: 1.5 waited past Max, and a negative or NaN u made a negative
// wait.
func (p Policy) Delay(attempt int, u float64) time.Duration {
	c := p.Ceiling(attempt)
	switch {
	case p.NoJitter || u >= 1:
		return c
	case !(u > 0): // zero, negative or NaN
		return 0
	}
	return time.Duration(u * float64(c))
}

// MaxRequested bounds a requested delay (see Next).
const MaxRequested = 24 * time.Hour

// Next is the wait after the n-th failed attempt: the requested delay when
// there is one (bounded by MaxRequested, not by Max), otherwise Delay with
// its own randomness.
func (p Policy) Next(attempt int, requested time.Duration) time.Duration {
	if requested > 0 {
		return min(requested, MaxRequested)
	}
	return p.Delay(attempt, rand.Float64())
}
