package engine

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tasker-go/tasker/engine/internal/batchsize"
	"github.com/tasker-go/tasker/engine/internal/dispatch"
	"github.com/tasker-go/tasker/engine/internal/pressure"
	"github.com/tasker-go/tasker/engine/internal/tuner"
)

// ToggleAdaptiveBatching lets the claim loop choose its batch size (at most
// ExecutionConfig.BatchSize) from the outcomes of its earlier claims and
// the pool's pressure (see ExecutionConfig.BatchSize). Off by default: the
// experiments (docs/experiments.md, E3) did not show it earning its place.
const ToggleAdaptiveBatching = "adaptive_batching"

// engineToggles are the toggles the engine knows beyond cachex's, with
// their defaults.
var engineToggles = map[string]bool{ToggleAdaptiveBatching: false}

// ConcurrencyStatus is what the concurrency tuner did last.
type ConcurrencyStatus struct {
	// Dynamic says whether the tuner moves the limit: the
	// dynamic_concurrency toggle was on at its last reading. It is false
	// where the limit is not tuned whatever the toggle says (on SQLite,
	// or with MinConcurrency equal to MaxConcurrency), and Reason says so.
	Dynamic bool
	// Limit is the concurrency limit now (ExecutionConfig.MaxConcurrency
	// when not tuned).
	Limit int
	// Pressure is the pool's level at the last reading (every
	// TuneInterval while a run is active, the limit tuned or not): low,
	// moderate, high or critical; not_assessed on SQLite, whose one
	// writer connection is busy whenever anything writes; empty between
	// runs.
	Pressure string
	// Reason says why the limit last changed, and ChangedAt when (zero
	// while it has not changed).
	Reason    string
	ChangedAt time.Time
}

// BatchStatus is the claim loop's batch size.
type BatchStatus struct {
	// Adaptive: the adaptive_batching toggle was on at the run's last
	// reading of it (every TuneInterval). It is false between runs,
	// whatever the toggle says, Size then being BatchSize and Reason "not
	// running".
	Adaptive bool
	Size     int // the last claim's batch size
	Reason   string
}

// tuning is one run's tuner and batch sizer, read by Status.
type tuning struct {
	t     *tuner.Tuner
	sizer *batchsize.Sizer
}

// runTuning holds the active run's tuning (nil between runs).
type runTuning struct{ p atomic.Pointer[tuning] }

// newTuning makes a run's tuner and sizer.
func (e *Engine) newTuning(d *dispatch.Dispatcher) *tuning {
	x := e.cfg.Execution
	return &tuning{
		t: tuner.New(tuner.Config{Min: x.MinConcurrency, Max: x.MaxConcurrency, Interval: x.TuneInterval,
			Fixed: e.st.Capabilities().SingleWriter}, e.press, e.clk, e.log, d, e.dynamicConcurrency, e.claimBacklog),
		sizer: batchsize.New(x.BatchSize),
	}
}

// tuneStep re-reads the toggles and the pool. The run takes one step before
// its first claim, so a limit tuned from the start is never exceeded.
func (e *Engine) tuneStep(ctx context.Context, tn *tuning) {
	tn.sizer.SetEnabled(e.toggle(ctx, ToggleAdaptiveBatching))
	tn.t.Step(ctx)
}

// claimBacklog reports whether the running claim loop has ready work
// waiting for room.
func (e *Engine) claimBacklog() bool {
	r := e.eager.Load()
	return r != nil && r.loop.Backlog()
}

// tune steps every TuneInterval (sooner while the tuner ramps) until ctx
// ends.
func (e *Engine) tune(ctx context.Context, tn *tuning) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.clk.After(tn.t.Wait()):
		}
		e.tuneStep(ctx, tn)
	}
}

// batchSize is the claim loop's next batch size. On a single-writer store
// (SQLite) the writer's one connection is busy whenever anything writes,
// so its "pressure" says nothing: the sizer sees Low there.
func (e *Engine) batchSize(tn *tuning) func() int {
	single, maxSize, every := e.st.Capabilities().SingleWriter, e.cfg.Execution.BatchSize, e.cfg.Execution.TuneInterval
	return func() int {
		switch {
		case !tn.sizer.Enabled(): // off: no reading of the pool on the claim path
			return maxSize
		case single:
			return tn.sizer.Size(pressure.Low)
		}
		return tn.sizer.Size(e.press.Fresh(every).Level)
	}
}

// batchOutcome records a claim's outcome with the sizer.
func batchOutcome(tn *tuning) func(size, claimed int, took time.Duration, failed bool) {
	return func(size, claimed int, took time.Duration, failed bool) {
		tn.sizer.Record(batchsize.Outcome{Size: size, Claimed: claimed, Took: took, Failed: failed})
	}
}

// tuningStatus reports the active run's tuning, or the configured values
// between runs.
func (e *Engine) tuningStatus() (ConcurrencyStatus, BatchStatus) {
	x := e.cfg.Execution
	tn := e.tun.p.Load()
	if tn == nil {
		return ConcurrencyStatus{Limit: x.MaxConcurrency, Reason: "not running"}, BatchStatus{Size: x.BatchSize, Reason: "not running"}
	}
	s := tn.t.Status()
	cs := ConcurrencyStatus{Dynamic: s.Enabled, Limit: s.Limit, Pressure: s.Level.String(), Reason: s.Reason, ChangedAt: s.At}
	if e.st.Capabilities().SingleWriter { // (the tuner takes no reading there)
		cs.Pressure = "not_assessed"
	}
	size, why := tn.sizer.Last()
	return cs, BatchStatus{Adaptive: tn.sizer.Enabled(), Size: size, Reason: why}
}
