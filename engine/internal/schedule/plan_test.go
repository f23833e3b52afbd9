package schedule

import (
	"slices"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	every, err := Parse("@every 10s", "")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ticks := func(ss ...int) []time.Time {
		var out []time.Time
		for _, s := range ss {
			out = append(out, at(s))
		}
		return out
	}
	var none time.Time
	for _, c := range []struct {
		name     string
		st       State
		overlap  string
		window   time.Duration
		now      int
		start    []time.Time
		cancel   bool
		next     time.Time
		buffered time.Time
		dropped  int
	}{
		{"not due", State{Next: at(10)}, Skip, time.Hour, 9, nil, false, at(10), none, 0},
		{"due on the tick", State{Next: at(10)}, Skip, time.Hour, 10, ticks(10), false, at(20), none, 0},
		{"skip while running", State{Next: at(10), Running: true}, Skip, time.Hour, 10, nil, false, at(20), none, 1},
		{"allow all while running", State{Next: at(10), Running: true}, AllowAll, time.Hour, 10, ticks(10), false, at(20), none, 0},
		{"buffer one while running", State{Next: at(10), Running: true}, BufferOne, time.Hour, 10, nil, false, at(20), at(10), 0},
		{"buffer keeps the first", State{Next: at(20), Buffered: at(10), Running: true}, BufferOne, time.Hour, 20, nil, false, at(30), at(10), 1},
		{"buffered starts when the run ends", State{Next: at(20), Buffered: at(10)}, BufferOne, time.Hour, 15, ticks(10), false, at(20), none, 0},
		{"buffered then the due tick is buffered", State{Next: at(20), Buffered: at(10)}, BufferOne, time.Hour, 20, ticks(10), false, at(30), at(20), 0},
		{"cancel previous", State{Next: at(10), Running: true}, CancelPrevious, time.Hour, 10, ticks(10), true, at(30 - 10), none, 0},
		{"cancel previous, nothing running", State{Next: at(10)}, CancelPrevious, time.Hour, 10, ticks(10), false, at(20), none, 0},
		// Downtime: the ticks from 10 to 100 are due.
		{"catch up, allow all", State{Next: at(10)}, AllowAll, time.Hour, 105, ticks(10, 20, 30, 40, 50, 60, 70, 80, 90, 100), false, at(110), none, 0},
		{"catch up, skip: one run", State{Next: at(10)}, Skip, time.Hour, 105, ticks(10), false, at(110), none, 9},
		{"catch up, buffer one", State{Next: at(10)}, BufferOne, time.Hour, 105, ticks(10), false, at(110), at(20), 8},
		{"catch up, cancel previous: the last", State{Next: at(10), Running: true}, CancelPrevious, time.Hour, 105, ticks(100), true, at(110), none, 9},
		{"catch-up window", State{Next: at(10)}, AllowAll, 25 * time.Second, 105, ticks(80, 90, 100), false, at(110), none, 1},
		{"window drops the buffered tick", State{Next: at(110), Buffered: at(10)}, BufferOne, 25 * time.Second, 105, nil, false, at(110), none, 1},
		{"no window: only the tick at now", State{Next: at(10)}, AllowAll, 0, 100, ticks(100), false, at(110), none, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Decide(every, c.st, c.overlap, at(c.now).Add(-c.window), at(c.now))
			if !slices.EqualFunc(p.Start, c.start, time.Time.Equal) || p.Cancel != c.cancel || !p.Next.Equal(c.next) ||
				!p.Buffered.Equal(c.buffered) || p.Dropped != c.dropped {
				t.Fatalf("plan %+v\nwant start %v cancel %v next %v buffered %v dropped %d", p, c.start, c.cancel, c.next, c.buffered, c.dropped)
			}
			if p.Changed(c.st) != (len(c.start) > 0 || c.cancel || !c.next.Equal(c.st.Next) || !c.buffered.Equal(c.st.Buffered)) {
				t.Fatal("Changed disagrees with the plan")
			}
		})
	}
}

// A backlog longer than a pass may handle is handled over several passes,
// every tick once.
func TestDecideBoundsAPass(t *testing.T) {
	every, _ := Parse("@every 1s", "")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(250 * time.Second)
	st := State{Next: t0.Add(time.Second)}
	var started []time.Time
	for pass := 0; pass < 10 && !st.Next.After(now); pass++ {
		p := Decide(every, st, AllowAll, t0, now)
		if len(p.Start) > MaxTicksPerPass {
			t.Fatalf("pass %d starts %d ticks", pass, len(p.Start))
		}
		started = append(started, p.Start...)
		st = State{Next: p.Next}
	}
	if len(started) != 250 || !started[0].Equal(t0.Add(time.Second)) || !started[249].Equal(now) {
		t.Fatalf("started %d ticks (%v … %v), want 250 from 1s to 250s", len(started), started[0], started[len(started)-1])
	}
	for i := 1; i < len(started); i++ {
		if started[i].Sub(started[i-1]) != time.Second {
			t.Fatalf("tick %d: gap %s", i, started[i].Sub(started[i-1]))
		}
	}
}

// A backlog longer than a pass takes is settled by the pass under every
// policy but AllowAll: left to the next pass, that pass found the run
// this one started ended (a quick run) and started another under Skip,
// or cancelled it to start a later tick under CancelPrevious, where the
// docs promise one run after a downtime (CancelPrevious: the last tick's).
func TestDecideSettlesALongBacklogInOnePass(t *testing.T) {
	every, err := Parse("@every 10s", "")
	if err != nil {
		t.Fatal(err)
	}
	cron, err := Parse("*/10 * * * * *", "")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	const now = 10 * (MaxTicksPerPass + 50) // 150 ticks due, from 10 s to now
	for _, spec := range []Spec{every, cron} {
		for _, c := range []struct {
			overlap  string
			running  bool
			start    time.Time
			cancel   bool
			buffered time.Time
		}{
			{Skip, false, at(10), false, time.Time{}},
			{BufferOne, false, at(10), false, at(20)},
			{CancelPrevious, true, at(now), true, time.Time{}},
			{CancelPrevious, false, at(now), false, time.Time{}},
		} {
			p := Decide(spec, State{Next: at(10), Running: c.running}, c.overlap, t0, at(now+5))
			if len(p.Start) != 1 || !p.Start[0].Equal(c.start) || p.Cancel != c.cancel || !p.Buffered.Equal(c.buffered) || !p.Next.Equal(at(now+10)) {
				t.Errorf("%s (running %v): plan %+v; want start %s alone, cancel %v, buffered %v, next %s",
					c.overlap, c.running, p, c.start, c.cancel, c.buffered, at(now+10))
			}
		}
	}
}
