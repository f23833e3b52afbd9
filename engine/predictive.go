package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine/internal/errclass"
	"github.com/tasker-go/tasker/engine/internal/predict"
	"github.com/tasker-go/tasker/engine/internal/pressure"
	"github.com/tasker-go/tasker/engine/internal/valcache"
	"github.com/tasker-go/tasker/store"
)

// historyWindow is how far back the predictive retry looks (the plan's 7
// days).
const historyWindow = 7 * 24 * time.Hour

// The cached value families (see Status.Cache).
var (
	familyHistory = valcache.Family{Name: "step_history", Fixed: 30 * time.Second, Max: 5 * time.Minute}
	familyReport  = valcache.Family{Name: "report", Fixed: 30 * time.Second, Max: 2 * time.Minute}
)

func (p PredictiveRetryConfig) validate() error {
	var errs []error
	if p.Min < 0 || p.Max < 0 {
		errs = append(errs, fmt.Errorf("min and max must not be negative, got %s and %s", p.Min, p.Max))
	}
	errs = append(errs, underAMillisecond("min", p.Min), underAMillisecond("max", p.Max))
	if lo, hi := p.bounds(); lo > hi {
		// Say which bound is the default: "min 1s exceeds max 500ms" named
		// a min the caller never set.
		switch {
		case p.Min == 0:
			errs = append(errs, fmt.Errorf("the default min %s exceeds max %s: set min too", lo, hi))
		case p.Max == 0:
			errs = append(errs, fmt.Errorf("min %s exceeds the default max %s: set max too", lo, hi))
		default:
			errs = append(errs, fmt.Errorf("min %s exceeds max %s", lo, hi))
		}
	}
	return errors.Join(errs...)
}

func (p PredictiveRetryConfig) bounds() (time.Duration, time.Duration) {
	return cmp.Or(p.Min, predict.DefaultMin), cmp.Or(p.Max, predict.DefaultMax)
}

// BackoffDecision is how the predictive retry chose a retry's delay: the
// policy's backoff (Base) times three factors, bounded. StepError.Backoff
// carries it; tasks show and Explain print it.
type BackoffDecision struct {
	Base time.Duration `json:"base"`
	// ErrorClass is the failure's class ("timeout", "connection_refused",
	// "http_5xx", "json_decode", "nil_dereference", …, or "unknown") and
	// ErrorFactor its weight (the plan's table).
	ErrorClass  string  `json:"error_class"`
	ErrorFactor float64 `json:"error_factor"`
	// Pressure is the connection pool's level (low, moderate, high,
	// critical) and PressureFactor its weight (0.8, 1, 1.5, 2.5); on
	// SQLite, whose one writer connection is busy whenever anything
	// writes, "not_assessed" and 1.
	Pressure       string  `json:"pressure"`
	PressureFactor float64 `json:"pressure_factor"`
	// HistoryAttempts and HistorySucceeded are the step's attempts at the
	// coming attempt number over the last 7 days (the most recent 1000
	// steps of its name in its workflow, any version; a durable step's
	// rows are named name#seq, so its history is that of the same step at
	// the same place in its runs), and HistoryFactor their weight (1
	// under 10 attempts).
	HistoryAttempts  int     `json:"history_attempts"`
	HistorySucceeded int     `json:"history_succeeded"`
	HistoryFactor    float64 `json:"history_factor"`
	// Bounded is "min" or "max" when the product was raised or cut to
	// Config.PredictiveRetry's bounds.
	Bounded string        `json:"bounded,omitempty"`
	Final   time.Duration `json:"final"`
}

func (d *BackoffDecision) String() string {
	s := fmt.Sprintf("%s = base %s × error %s %.2g × pressure %s %.2g × history %d/%d %.2g",
		d.Final, d.Base, d.ErrorClass, d.ErrorFactor, d.Pressure, d.PressureFactor, d.HistorySucceeded, d.HistoryAttempts, d.HistoryFactor)
	if d.Bounded != "" {
		s += " (bounded to " + d.Bounded + ")"
	}
	return s
}

func backoffFrom(d *predict.Decision) *BackoffDecision {
	if d == nil {
		return nil
	}
	return &BackoffDecision{Base: time.Duration(d.BaseMS) * time.Millisecond, ErrorClass: d.ErrorClass, ErrorFactor: d.ErrorFactor,
		Pressure: d.Pressure, PressureFactor: d.PressureFactor, HistoryAttempts: d.HistoryAttempts, HistorySucceeded: d.HistorySuccess,
		HistoryFactor: d.HistoryFactor, Bounded: d.Bounded, Final: d.Final()}
}

// predictive reports whether a step's retries are predicted.
func (e *Engine) predictive(ctx context.Context, policy stepPolicy) bool {
	return policy.Predictive || e.toggle(ctx, cachex.TogglePredictiveRetry)
}

// predictDelay weighs base for the retry after attempt a.attempt of step
// a.step failed with err.
func (e *Engine) predictDelay(ctx context.Context, a attemptInfo, base time.Duration, class errclass.Class) *predict.Decision {
	step := a.step
	if a.sequence > 0 { // a durable step: its rows are named name#seq
		step = store.DurableStepName(a.step, a.sequence)
	}
	hist := e.stepHistory(ctx, a.workflow, step, a.attempt+1)
	lo, hi := e.cfg.PredictiveRetry.bounds()
	r, assessed := e.pool()
	d := predict.Decide(predict.Inputs{Base: base, Class: class, Pressure: r.Level, NoPressure: !assessed,
		Succeeded: hist.Succeeded, Attempts: hist.Attempts, Min: lo, Max: hi})
	return &d
}

// pool is the latest pool reading, and whether it measures load: on a
// single-writer store (SQLite) the pool is the one writer connection,
// busy whenever anything writes, so its use is no pressure reading.
func (e *Engine) pool() (pressure.Reading, bool) {
	return e.press.Fresh(e.cfg.Execution.TuneInterval), !e.st.Capabilities().SingleWriter
}

// stepHistory is the step's recent success at attempt n in workflow
// ("namespace/name"; "" for every workflow's steps of the name), through
// the cache; a store error reads as no history (the factor is then
// neutral).
func (e *Engine) stepHistory(ctx context.Context, workflow, step string, n int) store.StepSuccessRate {
	var out store.StepSuccessRate
	co := e.coordinate(ctx)
	var c cachex.Cache
	adaptive := false
	if co != nil {
		c, adaptive = co.cache, co.toggles.Enabled(ctx, cachex.ToggleAdaptiveTTL)
	}
	ns, name, _ := splitWorkflow(workflow)
	// The workflow's length keeps two pairs of names from making one key
	// (a name may hold ':').
	key := fmt.Sprintf("%d:%d:%s:%s", n, len(workflow), workflow, step)
	doc, _, err := e.vals.Fetch(ctx, c, adaptive, familyHistory.Name, key, func(ctx context.Context) ([]byte, error) {
		r, err := e.st.StepSuccessRate(ctx, &store.StepSuccessRateParams{Name: step, Namespace: ns, Workflow: name, Attempt: n, Since: e.clk.Now().Add(-historyWindow)})
		if err != nil {
			return nil, err
		}
		return json.Marshal(r)
	})
	if err == nil {
		_ = json.Unmarshal(doc, &out)
	}
	return out
}
