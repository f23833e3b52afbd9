package batchsize

import (
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine/internal/pressure"
)

func TestCompatibility(t *testing.T) {
	cases := []struct {
		size int
		l    pressure.Level
		want float64
	}{
		{256, pressure.Low, 1},
		{96, pressure.Moderate, 1}, {97, pressure.Moderate, 0.8},
		{64, pressure.High, 1}, {65, pressure.High, 0.6},
		{32, pressure.Critical, 1}, {33, pressure.Critical, 0.3},
		{1, pressure.Level(9), 0.5},
	}
	for _, c := range cases {
		if got := Compatibility(c.size, 256, c.l); got != c.want {
			t.Errorf("Compatibility(%d of 256, %s) = %g, want %g", c.size, c.l, got, c.want)
		}
	}
}

func TestConservative(t *testing.T) {
	for _, c := range []struct {
		max  int
		l    pressure.Level
		want int
	}{{256, pressure.Low, 64}, {256, pressure.Moderate, 32}, {256, pressure.High, 16}, {256, pressure.Critical, 8}, {4, pressure.Critical, 1}} {
		if got := Conservative(c.max, c.l); got != c.want {
			t.Errorf("Conservative(%d, %s) = %d, want %d", c.max, c.l, got, c.want)
		}
	}
}

// outcomes: n claims of size, each claiming claimed steps in took.
func outcomes(n, size, claimed int, took time.Duration, failed bool) []Outcome {
	out := make([]Outcome, n)
	for i := range out {
		out[i] = Outcome{Size: size, Claimed: claimed, Took: took, Failed: failed}
	}
	return out
}

func TestChoose(t *testing.T) {
	ms := time.Millisecond
	join := func(parts ...[]Outcome) []Outcome {
		var out []Outcome
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name   string
		hist   []Outcome
		l      pressure.Level
		turn   int
		want   int
		reason string
	}{
		{"9 samples: conservative", outcomes(9, 256, 256, ms, false), pressure.Low, 1, 64, "conservative"},
		{"9 samples under high pressure: smaller default", outcomes(9, 256, 256, ms, false), pressure.High, 1, 16, "conservative"},
		{"more steps per claim-second wins", join(outcomes(5, 64, 64, 2*ms, false), outcomes(5, 128, 128, 3*ms, false)), pressure.Low, 1, 128, "best of 2"},
		{"failures count against a size", join(outcomes(5, 64, 64, 2*ms, false), outcomes(5, 128, 128, 3*ms, true)), pressure.Low, 1, 64, "best"},
		{"critical pressure penalises the big size", join(outcomes(5, 16, 16, 2*ms, false), outcomes(5, 128, 128, 7*ms, false)), pressure.Critical, 1, 16, "critical"},
		{"near-ties go to the larger", join(outcomes(5, 64, 64, 2*ms, false), outcomes(5, 128, 128, 4100*time.Microsecond, false)), pressure.Low, 1, 128, "best"},
		{"a clear win goes to the smaller", join(outcomes(5, 64, 64, 2*ms, false), outcomes(5, 128, 128, 5*ms, false)), pressure.Low, 1, 64, "best"},
		{"explore: twice the best", outcomes(10, 64, 64, ms, false), pressure.Low, 8, 128, "trying"},
		{"explore: then half", outcomes(10, 64, 64, ms, false), pressure.Low, 16, 32, "trying"},
		{"explore: twice the maximum is the maximum, so half", outcomes(10, 256, 256, ms, false), pressure.Low, 8, 128, "trying"},
		{"outcomes beyond the bound are ignored", join(outcomes(5, 512, 512, ms, false), outcomes(5, 64, 64, ms, false)), pressure.Low, 1, 64, "best of 2"},
		{"recent outcomes weigh more", join(outcomes(50, 64, 64, ms, false), outcomes(50, 64, 64, 10*ms, false), outcomes(10, 32, 32, ms, false)), pressure.Low, 1, 32, "best"},
	}
	for _, c := range cases {
		got, why := Choose(c.hist, 256, c.l, c.turn)
		if got != c.want || !strings.Contains(why, c.reason) {
			t.Errorf("%s: Choose = %d (%q), want %d (reason mentioning %q)", c.name, got, why, c.want, c.reason)
		}
	}
}

func TestSizerOffIsTheMaximumAndForgets(t *testing.T) {
	s := New(256)
	if got := s.Size(pressure.Critical); got != 256 {
		t.Fatalf("off: Size = %d, want the maximum", got)
	}
	s.SetEnabled(true)
	for _, o := range outcomes(Window+5, 128, 128, time.Millisecond, false) {
		s.Record(o)
	}
	if n := len(s.hist); n != Window {
		t.Fatalf("kept %d outcomes, want %d", n, Window)
	}
	s.Record(Outcome{Size: 128, Claimed: 3, Took: time.Millisecond})
	if s.hist[Window-1].Claimed != 128 {
		t.Fatal("kept a claim that found less ready work than its size")
	}
	s.Record(Outcome{Size: 128, Claimed: 0, Took: time.Millisecond, Failed: true})
	if !s.hist[Window-1].Failed {
		t.Fatal("did not keep a failed claim")
	}
	if got := s.Size(pressure.Low); got != 128 {
		t.Fatalf("on: Size = %d, want 128", got)
	}
	s.SetEnabled(false)
	s.SetEnabled(true)
	if got := s.Size(pressure.Low); got != 64 || !strings.Contains(s.why, "conservative") {
		t.Fatalf("switched off and on: Size = %d (%s), want the conservative 64", got, s.why)
	}
}

// Near-ties go to the larger size only within 5 % of the best score: the
// choice was made in the map's order, each size compared with the one
// chosen so far, so a chain of sizes each 4 % below the last could end
// on one 8 % below the best, or not, from one call to the next.
func TestChooseNearTiesAreWithinFivePercentOfTheBest(t *testing.T) {
	var hist []Outcome
	for _, o := range []struct {
		size   int
		perSec float64
	}{{10, 100}, {20, 96}, {40, 92}} {
		took := time.Duration(float64(o.size) / o.perSec * float64(time.Second))
		hist = append(hist, outcomes(4, o.size, o.size, took, false)...)
	}
	for range 200 { // (the map's order changes from one call to the next)
		if got, why := Choose(hist, 64, pressure.Low, 1); got != 20 {
			t.Fatalf("Choose = %d (%s), want 20: the largest within 5 %% of the best (10 at 100/s; 20 at 96/s is, 40 at 92/s is not)", got, why)
		}
	}
}

// Switched on, the sizer's reason no longer says it is off: Status read
// Adaptive true beside "adaptive batching off" until the next claim.
func TestSizerSwitchedOnSaysSo(t *testing.T) {
	s := New(64)
	s.SetEnabled(true)
	if size, why := s.Last(); size != 64 || strings.Contains(why, "off") {
		t.Fatalf("switched on, before a claim: %d, %q", size, why)
	}
	s.SetEnabled(false)
	if _, why := s.Last(); why != "adaptive batching off" {
		t.Fatalf("switched off: %q", why)
	}
}
