// Package batchsize chooses how many steps a claim asks for, from the
// outcomes of the claims before it (the original plan's adaptive batching,
// 4.1): each claim records the size it was allowed, how many steps it got,
// how long its transaction took and whether it failed; the size that
// claimed the most steps per second of claim time, weighed by the plan's
// pressure compatibility rule, is the next size, with a neighbouring size
// tried now and then so the choice can move. Only claims the size limited
// (they got as many steps as they were allowed) or that failed are kept:
// a claim that found less ready work than its size says nothing about it.
// Until it has MinSamples outcomes it uses a conservative default for the
// pool's pressure.
package batchsize

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tasker-go/tasker/engine/internal/pressure"
)

// MinSamples is how many outcomes the sizer needs before it trusts them;
// Window how many it keeps (the plan's 10 and 100).
const (
	MinSamples = 10
	Window     = 100
)

// exploreEvery: every this many choices, a neighbour of the best size is
// tried instead (alternately twice and half the best).
const exploreEvery = 8

// decay weighs an outcome by its age: the newest 1, the one before 0.97…
const decay = 0.97

// Outcome is one claim's result.
type Outcome struct {
	// Size is the batch size the claim was allowed (it may have asked for
	// fewer when fewer slots were free).
	Size    int
	Claimed int
	Took    time.Duration
	Failed  bool
}

// Compatibility is the plan's pressure compatibility rule: under pressure,
// large batches are penalised. The plan's sizes 6, 4 and 2 are read as
// sixteenths of the maximum batch, since its batches were of a handful of
// steps and ours go up to ExecutionConfig.BatchSize.
func Compatibility(size, maxSize int, l pressure.Level) float64 {
	frac := float64(size) * 16 / float64(maxSize)
	switch l {
	case pressure.Low:
		return 1
	case pressure.Moderate:
		return pick(frac <= 6, 1, 0.8)
	case pressure.High:
		return pick(frac <= 4, 1, 0.6)
	case pressure.Critical:
		return pick(frac <= 2, 1, 0.3)
	}
	return 0.5
}

func pick(c bool, a, b float64) float64 {
	if c {
		return a
	}
	return b
}

// Conservative is the size before MinSamples outcomes: a quarter of the
// maximum at low pressure, an eighth at moderate, a sixteenth at high, a
// thirty-second at critical; at least 1.
func Conservative(maxSize int, l pressure.Level) int {
	return max(1, maxSize>>(2+int(max(0, min(l, pressure.Critical)))))
}

// Choose is the rule: the conservative default with fewer than MinSamples
// outcomes; otherwise the size with the best score (steps claimed per
// second of claim time, times the share of claims that did not fail,
// times the compatibility with the pressure now; recent outcomes weigh
// more), near-ties to the larger; on every exploreEvery-th turn a neighbour
// of it (twice, then half). The result is in [1, maxSize].
func Choose(hist []Outcome, maxSize int, l pressure.Level, turn int) (int, string) {
	if len(hist) < MinSamples {
		return Conservative(maxSize, l), fmt.Sprintf("conservative default for pressure %s (%d of %d samples)", l, len(hist), MinSamples)
	}
	type acc struct{ steps, secs, ok, n float64 }
	by := map[int]*acc{}
	w := 1.0
	for i := len(hist) - 1; i >= 0; i-- {
		o := hist[i]
		a := by[o.Size]
		if a == nil {
			a = &acc{}
			by[o.Size] = a
		}
		a.steps += w * float64(o.Claimed)
		a.secs += w * max(o.Took.Seconds(), 1e-6)
		a.n += w
		if !o.Failed {
			a.ok += w
		}
		w *= decay
	}
	score := map[int]float64{}
	top := math.Inf(-1)
	for size, a := range by {
		if size < 1 || size > maxSize {
			continue
		}
		score[size] = a.steps / a.secs * (a.ok / a.n) * Compatibility(size, maxSize, l)
		top = max(top, score[size])
	}
	// Near-ties (within 5% of the best) go to the larger size: a size that
	// did not bind costs nothing, and fewer transactions are the safer
	// side when the measure cannot tell sizes apart. (Against the best,
	// not the size chosen so far: in the map's order, a chain of sizes
	// each a little worse drifted from it, and differently each time.)
	best, bestScore := 0, 0.0
	for size, s := range score {
		if s >= top/1.05 && size > best {
			best, bestScore = size, s
		}
	}
	if best == 0 {
		return Conservative(maxSize, l), "no outcome within the bounds: conservative default"
	}
	why := fmt.Sprintf("best of %d sizes (%.0f steps per claim-second at pressure %s)", len(by), bestScore, l)
	if turn%exploreEvery == 0 {
		n := min(maxSize, best*2)
		if (turn/exploreEvery)%2 == 0 || n == best {
			n = max(1, best/2)
		}
		if n != best {
			return n, fmt.Sprintf("trying %d, a neighbour of the best %d", n, best)
		}
	}
	return best, why
}

// Sizer keeps the outcomes of one claim loop. Off (the default), Size is
// the maximum and outcomes are not kept.
type Sizer struct {
	max int
	on  atomic.Bool

	mu   sync.Mutex
	hist []Outcome
	turn int
	last int
	why  string
}

// New returns a sizer of batches up to maxSize.
func New(maxSize int) *Sizer {
	return &Sizer{max: maxSize, last: maxSize, why: offWhy}
}

// SetEnabled switches adaptive sizing on or off; switching it off forgets
// the outcomes, so switching it on again starts conservative.
func (s *Sizer) SetEnabled(on bool) {
	if s.on.Swap(on) == on {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		if s.why == offWhy { // (unless a claim has chosen since the switch)
			s.why = "adaptive batching on: the next claim chooses the size"
		}
		return
	}
	s.hist, s.last, s.why = nil, s.max, offWhy
}

// offWhy is the sizer's reason while it is off.
const offWhy = "adaptive batching off"

// Enabled reports whether adaptive sizing is on.
func (s *Sizer) Enabled() bool { return s.on.Load() }

// Size is the next claim's batch size at pressure l.
func (s *Sizer) Size(l pressure.Level) int {
	if !s.on.Load() {
		return s.max
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.turn++
	s.last, s.why = Choose(s.hist, s.max, l, s.turn)
	return s.last
}

// Record keeps a claim's outcome (the newest Window are kept). A claim
// that succeeded with fewer steps than its size says nothing about the
// size (there was no more ready work): it is not kept.
func (s *Sizer) Record(o Outcome) {
	if !s.on.Load() || (!o.Failed && o.Claimed < o.Size) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hist) == Window {
		copy(s.hist, s.hist[1:])
		s.hist = s.hist[:Window-1]
	}
	s.hist = append(s.hist, o)
}

// Last is the last size chosen and why.
func (s *Sizer) Last() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.why
}
