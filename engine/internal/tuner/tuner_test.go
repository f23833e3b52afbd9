package tuner

import (
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine/internal/pressure"
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
	}{
		{"critical pool: halve", io(Sample{Cur: 40, Lo: 4, Hi: 64, Running: 40, Pool: pool(9, 10, 0)}), 20, "critical"},
		{"critical never below the minimum", io(Sample{Cur: 5, Lo: 4, Hi: 64, Running: 5, Pool: pool(10, 10, 3)}), 4, "critical"},
		{"high pool: x0.7", io(Sample{Cur: 40, Lo: 4, Hi: 64, Running: 40, Pool: pool(7, 10, 0)}), 28, "high"},
		{"callers waited at low use: high", io(Sample{Cur: 40, Lo: 4, Hi: 64, Running: 40, Pool: pool(2, 10, 5)}), 28, "5 waits"},
		{"moderate above the 60% share: a tenth fewer", io(Sample{Cur: 40, Lo: 4, Hi: 64, Running: 40, Pool: pool(13, 20, 0)}), 36, "60% safety share"},
		{"moderate at the share: I/O-bound still grows", io(Sample{Cur: 20, Lo: 4, Hi: 64, Running: 20, Pool: pool(6, 10, 0)}), 40, "grow"},
		{"I/O-bound, limit used, low pool: double past the pool's size", io(Sample{Cur: 12, Lo: 1, Hi: 64, Running: 12, Pool: pool(2, 10, 0)}), 24, "I/O-bound"},
		{"I/O-bound growth stops at Hi", io(Sample{Cur: 60, Lo: 1, Hi: 64, Running: 60, Pool: pool(2, 10, 0)}), 64, "grow"},
		{"I/O-bound with room to spare: hold", io(Sample{Cur: 32, Lo: 1, Hi: 64, Running: 10, Pool: pool(2, 10, 0)}), 32, "hold"},
		{"CPU-bound above the pool's share: down to it", cpu(Sample{Cur: 32, Lo: 1, Hi: 64, Running: 32, Pool: pool(2, 10, 0)}), 6, "CPU-bound"},
		{"CPU-bound ceiling is at least GOMAXPROCS", cpu(Sample{Cur: 8, Lo: 1, Hi: 64, Running: 8, Pool: pool(0, 2, 0)}), 2, "ceiling"},
		{"CPU-bound with a saturated CPU: hold", cpu(Sample{Cur: 4, Lo: 1, Hi: 64, Running: 4, Pool: pool(1, 10, 0)}), 4, "saturated"},
		{"CPU-bound, CPU free, limit used: grow by a quarter to the share", Sample{Cur: 4, Lo: 1, Hi: 64, Running: 4, Pool: pool(1, 10, 0), Handler: 2 * sec, CPU: 1200 * time.Millisecond, CPUKnown: true, Interval: sec, Procs: 2}, 5, "grow"},
		{"CPU unknown: grow by a quarter", Sample{Cur: 8, Lo: 1, Hi: 64, Running: 8, Pool: pool(1, 10, 0), Handler: 8 * sec, Interval: sec, Procs: 2}, 10, "unknown"},
		{"no handler ran: hold", Sample{Cur: 8, Lo: 1, Hi: 64, Pool: pool(0, 10, 0), Interval: sec}, 8, "no handler"},
		{"the minimum wins over a ceiling below it", cpu(Sample{Cur: 12, Lo: 10, Hi: 64, Running: 12, Pool: pool(1, 10, 0)}), 10, "ceiling"},
	}
	for _, c := range cases {
		d := Decide(c.s)
		if d.Next != c.want || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s: Decide = %d (%q), want %d (reason mentioning %q)", c.name, d.Next, d.Reason, c.want, c.reason)
		}
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
