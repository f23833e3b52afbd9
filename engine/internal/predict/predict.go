// Package predict is the predictive retry's arithmetic (the original
// plan's 4.2): a failed attempt's backoff multiplied by three factors —
// the error's class, the connection pool's pressure and how often the
// same step succeeded at the coming attempt number lately — and bounded.
// It is pure; the engine gathers the inputs and stores the Decision with
// the failure, so every delay can be explained afterwards.
package predict

import (
	"math"
	"time"

	"github.com/tasker-go/tasker/engine/internal/errclass"
	"github.com/tasker-go/tasker/engine/internal/pressure"
)

// Default bounds of the final delay (the plan's 1 s – 5 min).
const (
	DefaultMin = time.Second
	DefaultMax = 5 * time.Minute
)

// MinSamples is the history needed before it weighs on the delay: a
// success rate over fewer ended attempts is noise (the plan trusted a
// single sample; its own "low confidence" line was 10).
const MinSamples = 10

// ErrorFactor is the plan's table, mapped to Go's errors: waiting longer
// helps a timeout or a refused connection, and a retry of a programming
// error will fail the same way, so it comes soon and costs little.
func ErrorFactor(c errclass.Class) float64 {
	switch c {
	case errclass.Timeout:
		return 1.5
	case errclass.ConnRefused, errclass.ConnReset, errclass.DNS:
		return 2.0
	case errclass.HTTP5xx:
		return 1.3
	case errclass.Decode:
		return 0.5 // a validation error (the plan's RecordInvalid)
	case errclass.NilDeref, errclass.Programming:
		return 0.1
	}
	return 1.0
}

// PressureFactor backs off more when the pool is busy.
func PressureFactor(l pressure.Level) float64 {
	switch l {
	case pressure.Low:
		return 0.8
	case pressure.High:
		return 1.5
	case pressure.Critical:
		return 2.5
	}
	return 1.0
}

// HistoryFactor maps the recent success rate at the coming attempt: a
// retry that usually works comes sooner, one that rarely does waits.
// Fewer than MinSamples ended attempts is insufficient data: 1.0.
func HistoryFactor(succeeded, attempts int) float64 {
	if attempts < MinSamples {
		return 1.0
	}
	switch r := float64(succeeded) / float64(attempts); {
	case r >= 0.8:
		return 0.8
	case r >= 0.5:
		return 1.0
	case r >= 0.2:
		return 1.3
	}
	return 1.8
}

// Inputs are what a decision weighs.
type Inputs struct {
	Base     time.Duration // the policy's backoff for this attempt
	Class    errclass.Class
	Pressure pressure.Level
	// NoPressure: the pool's use says nothing about load (SQLite's single
	// writer connection is busy whenever anything writes): factor 1.
	NoPressure bool
	// Succeeded of Attempts: the history at the coming attempt number.
	Succeeded, Attempts int
	// Min and Max bound the result (0: DefaultMin, DefaultMax).
	Min, Max time.Duration
}

// Decision is one predicted delay with its reasons, as stored with the
// failure (durations in milliseconds).
type Decision struct {
	BaseMS          int64   `json:"base_ms"`
	ErrorClass      string  `json:"error_class"`
	ErrorFactor     float64 `json:"error_factor"`
	Pressure        string  `json:"pressure"`
	PressureFactor  float64 `json:"pressure_factor"`
	HistoryAttempts int     `json:"history_attempts"`
	HistorySuccess  int     `json:"history_succeeded"`
	HistoryFactor   float64 `json:"history_factor"`
	// Bounded says the product was raised to Min or cut to Max.
	Bounded string `json:"bounded,omitempty"`
	FinalMS int64  `json:"final_ms"`
}

// Final is the decided delay.
func (d Decision) Final() time.Duration { return time.Duration(d.FinalMS) * time.Millisecond }

// Decide multiplies and bounds.
func Decide(in Inputs) Decision {
	lo, hi := in.Min, in.Max
	if lo <= 0 {
		lo = DefaultMin
	}
	if hi <= 0 {
		hi = DefaultMax
	}
	d := Decision{BaseMS: in.Base.Milliseconds(), ErrorClass: in.Class.Name(), ErrorFactor: ErrorFactor(in.Class),
		Pressure: in.Pressure.String(), PressureFactor: PressureFactor(in.Pressure),
		HistoryAttempts: in.Attempts, HistorySuccess: in.Succeeded, HistoryFactor: HistoryFactor(in.Succeeded, in.Attempts)}
	if in.NoPressure {
		d.Pressure, d.PressureFactor = "not_assessed", 1
	}
	v := float64(in.Base) * d.ErrorFactor * d.PressureFactor * d.HistoryFactor
	final := time.Duration(math.Round(v))
	switch {
	case v < float64(lo):
		final, d.Bounded = lo, "min"
	case v > float64(hi):
		final, d.Bounded = hi, "max"
	}
	// Recorded in whole milliseconds, rounded up to the min's: a Min of
	// 1.5 ms truncated to 1 ms would not bound the delay.
	d.FinalMS = max(final.Milliseconds(), (lo + time.Millisecond - 1).Milliseconds())
	return d
}
