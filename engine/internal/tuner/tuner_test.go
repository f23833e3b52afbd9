package tuner

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/dispatch"
	"github.com/tasker-go/tasker/engine/internal/pressure"
	"github.com/tasker-go/tasker/store"
)

func TestDecide(t *testing.T) {
	pool := func(inUse, maxOpen int, waits int64) pressure.Reading {
		u := float64(inUse) / float64(maxOpen)
		l := pressure.ForUtilisation(u)
		if waits > 0 && l < pressure.High {
			l = pressure.High
		}
		return pressure.Reading{Level: l, Utilisation: u, InUse: inUse, MaxOpen: maxOpen, Waits: waits}
	}
	const sec = time.Second
	// io: 32 handlers sleeping a second each, 0.1 s of CPU between them.
	io := func(s Sample) Sample {
		s.Handler, s.CPU, s.CPUKnown, s.Interval, s.Procs = 32*sec, sec/10, true, sec, 2
		return s
	}
	// cpu: handlers computing on both cores all the interval.
	cpu := func(s Sample) Sample {
		s.Handler, s.CPU, s.CPUKnown, s.Interval, s.Procs = 4*sec, 2*sec, true, sec, 2
		return s
	}
	cases := []struct {
		name   string
		s      Sample
		want   int
		reason string
		ramp   bool
	}{
		{"critical pool: halve", io(Sample{Cur: 40, Lo: 4, Hi: 64, Running: 40, Pool: pool(9, 10, 0)}), 20, "critical", false},
		{"critical never below the minimum", io(Sample{Cur: 5, Lo: 4, Hi: 64, Running: 5, Pool: pool(10, 10, 3)}), 4, "critical", false},
		{"high pool: x0.7", io(Sample{Cur: 40, Lo: 4, Hi: 64, Running: 40, Pool: pool(7, 10, 0)}), 28, "high", false},
		{"callers waited at low use: high", io(Sample{Cur: 40, Lo: 4, Hi: 64, Running: 40, Pool: pool(2, 10, 5)}), 28, "5 waits", false},
		{"moderate above the 60% share: a tenth fewer", io(Sample{Cur: 40, Lo: 4, Hi: 64, Running: 40, Pool: pool(13, 20, 0)}), 36, "60% safety share", false},
		{"moderate at the share: I/O-bound still grows", io(Sample{Cur: 20, Lo: 4, Hi: 64, Running: 20, Pool: pool(6, 10, 0)}), 40, "grow", false},
		{"I/O-bound, limit used, low pool: double past the pool's size", io(Sample{Cur: 12, Lo: 1, Hi: 64, Running: 12, Pool: pool(2, 10, 0)}), 24, "I/O-bound", false},
		{"I/O-bound growth stops at Hi", io(Sample{Cur: 60, Lo: 1, Hi: 64, Running: 60, Pool: pool(2, 10, 0)}), 64, "grow", false},
		{"I/O-bound with room to spare: hold", io(Sample{Cur: 32, Lo: 1, Hi: 64, Running: 10, Pool: pool(2, 10, 0)}), 32, "hold", false},
		{"CPU-bound above the pool's share: down to it", cpu(Sample{Cur: 32, Lo: 1, Hi: 64, Running: 32, Pool: pool(2, 10, 0)}), 6, "CPU-bound", false},
		{"CPU-bound ceiling is at least GOMAXPROCS", cpu(Sample{Cur: 8, Lo: 1, Hi: 64, Running: 8, Pool: pool(0, 2, 0)}), 2, "ceiling", false},
		{"CPU-bound with a saturated CPU: hold", cpu(Sample{Cur: 4, Lo: 1, Hi: 64, Running: 4, Pool: pool(1, 10, 0)}), 4, "saturated", false},
		{"CPU-bound, CPU free, limit used: grow by a quarter to the share", Sample{Cur: 4, Lo: 1, Hi: 64, Running: 4, Pool: pool(1, 10, 0), Handler: 2 * sec, CPU: 1200 * time.Millisecond, CPUKnown: true, Interval: sec, Procs: 2}, 5, "grow", false},
		{"CPU unknown: grow by a quarter", Sample{Cur: 8, Lo: 1, Hi: 64, Running: 8, Pool: pool(1, 10, 0), Handler: 8 * sec, Interval: sec, Procs: 2}, 10, "unknown", false},
		{"no handler ran: hold", Sample{Cur: 8, Lo: 1, Hi: 64, Pool: pool(0, 10, 0), Interval: sec}, 8, "no handler", false},
		{"the minimum wins over a ceiling below it", cpu(Sample{Cur: 12, Lo: 10, Hi: 64, Running: 12, Pool: pool(1, 10, 0)}), 10, "ceiling", false},
		// The ramp: I/O-bound, limit used, a backlog, a low pool.
		{"backlog on a low pool, I/O-bound: ramp x4", io(Sample{Cur: 6, Lo: 3, Hi: 256, Running: 6, Pool: pool(2, 10, 0), Backlog: true}), 24, "grow x4 (ramp)", true},
		{"the ramp stops at Hi", io(Sample{Cur: 96, Lo: 3, Hi: 256, Running: 96, Pool: pool(1, 10, 0), Backlog: true}), 256, "ramp", true},
		{"at Hi a ramp is no ramp", io(Sample{Cur: 256, Lo: 3, Hi: 256, Running: 256, Pool: pool(1, 10, 0), Backlog: true}), 256, "ramp", false},
		{"backlog on a moderate pool: double only", io(Sample{Cur: 6, Lo: 3, Hi: 256, Running: 6, Pool: pool(5, 10, 0), Backlog: true}), 12, "grow", false},
		{"backlog but the limit not used: hold", io(Sample{Cur: 32, Lo: 3, Hi: 256, Running: 10, Pool: pool(2, 10, 0), Backlog: true}), 32, "hold", false},
		{"backlog, CPU-bound: a quarter", Sample{Cur: 4, Lo: 1, Hi: 64, Running: 4, Pool: pool(1, 10, 0), Handler: 2 * sec, CPU: 1200 * time.Millisecond, CPUKnown: true, Interval: sec, Procs: 2, Backlog: true}, 5, "grow", false},
		{"backlog, CPU unknown: a quarter", Sample{Cur: 8, Lo: 1, Hi: 64, Running: 8, Pool: pool(1, 10, 0), Handler: 8 * sec, Interval: sec, Procs: 2, Backlog: true}, 10, "unknown", false},
		{"backlog on a critical pool: still halve", io(Sample{Cur: 40, Lo: 4, Hi: 64, Running: 40, Pool: pool(9, 10, 0), Backlog: true}), 20, "critical", false},
	}
	for _, c := range cases {
		d := Decide(c.s)
		if d.Next != c.want || !strings.Contains(d.Reason, c.reason) || d.Ramp != c.ramp {
			t.Errorf("%s: Decide = %d (%q, ramp %v), want %d (reason mentioning %q, ramp %v)", c.name, d.Next, d.Reason, d.Ramp, c.want, c.reason, c.ramp)
		}
	}
}

// After a ramp the next decision comes a RampDivisor-th of the interval
// later; otherwise after the interval.
func TestWaitAfterRamp(t *testing.T) {
	tn := &Tuner{cfg: Config{Interval: time.Second}}
	if w := tn.Wait(); w != time.Second {
		t.Fatalf("wait %s, want 1s", w)
	}
	tn.ramp = true
	if w := tn.Wait(); w != time.Second/RampDivisor {
		t.Fatalf("wait after a ramp %s, want %s", w, time.Second/RampDivisor)
	}
}

func TestStart(t *testing.T) {
	for _, c := range []struct{ lo, hi, maxOpen, want int }{
		{1, 32, 10, 6}, {1, 4, 10, 4}, {8, 32, 10, 8}, {1, 32, 0, 32},
	} {
		if got := Start(c.lo, c.hi, c.maxOpen); got != c.want {
			t.Errorf("Start(%d, %d, %d) = %d, want %d", c.lo, c.hi, c.maxOpen, got, c.want)
		}
	}
}

// A limit that cannot move (the minimum is the maximum) says why it is
// not tuned, as a single-writer store's does: Status read "the configured
// maximum" and Dynamic false with the toggle on, and nothing said why.
func TestStatusSaysWhyTheLimitIsNotTuned(t *testing.T) {
	d := dispatch.New(4, func(*store.ClaimedStep) func() { return nil })
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Min: 4, Max: 4, Interval: time.Second}, "the minimum is the same: not tuned"},
		{Config{Min: 1, Max: 4, Interval: time.Second, Fixed: true}, "single-writer store: not tuned"},
	} {
		tn := New(c.cfg, nil, nil, zap.NewNop(), d, func(context.Context) bool { return true }, nil)
		tn.Step(context.Background())
		if s := tn.Status(); s.Enabled || s.Limit != 4 || !strings.Contains(s.Reason, c.want) {
			t.Errorf("%+v: status %+v, want limit 4, not enabled, saying %q", c.cfg, s, c.want)
		}
	}
}
