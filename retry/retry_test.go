package retry_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/retry"
)

func TestCeilingDoublesUpToMax(t *testing.T) {
	p := retry.Policy{Base: time.Second, Max: 10 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := p.Ceiling(i + 1); got != w {
			t.Errorf("ceiling(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := p.Ceiling(500); got != 10*time.Second {
		t.Errorf("ceiling(500) = %s: overflow", got)
	}
}

func TestDelayStaysWithinBounds(t *testing.T) {
	p := retry.Policy{Base: 100 * time.Millisecond, Max: time.Second}
	for attempt := 1; attempt <= 20; attempt++ {
		for _, u := range []float64{0, 0.25, 0.5, 0.999999} {
			d := p.Delay(attempt, u)
			if d < 0 || d > p.Ceiling(attempt) {
				t.Fatalf("delay(%d, %v) = %s outside [0, %s]", attempt, u, d, p.Ceiling(attempt))
			}
		}
	}
	if d := p.Delay(3, 0.5); d != 200*time.Millisecond {
		t.Fatalf("delay(3, .5) = %s, want half of 400ms", d)
	}
	// A u outside [0, 1) keeps the delay within [0, ceiling]: 1.5 waited
	// past Max, a negative number was a negative wait, and NaN whatever
	// the conversion made of it.
	for u, want := range map[float64]time.Duration{-1: 0, math.NaN(): 0, math.Inf(-1): 0, 1: p.Ceiling(3), 1.5: p.Ceiling(3), math.Inf(1): p.Ceiling(3)} {
		if d := p.Delay(3, u); d != want {
			t.Errorf("delay(3, %v) = %s, want %s", u, d, want)
		}
	}
}

func TestNextUsesTheRequestedDelayExactly(t *testing.T) {
	p := retry.Policy{Base: time.Second, Max: 100 * time.Millisecond}
	for _, tc := range []struct{ requested, want time.Duration }{
		{time.Millisecond, time.Millisecond},             // shorter than the formula's draw: not a floor
		{300 * time.Millisecond, 300 * time.Millisecond}, // longer than Max: not capped by it
		{30 * time.Second, 30 * time.Second},
		{90 * 24 * time.Hour, retry.MaxRequested}, // the absolute ceiling
	} {
		for range 50 { // jitter must play no part
			if d := p.Next(3, tc.requested); d != tc.want {
				t.Fatalf("Next(3, %s) = %s, want %s", tc.requested, d, tc.want)
			}
		}
	}
	if d := p.Next(3, 0); d > p.Max {
		t.Fatalf("no request: %s is over Max %s", d, p.Max)
	}
}

func TestDefaultsAndValidation(t *testing.T) {
	if c := (retry.Policy{}).Ceiling(1); c != retry.DefaultBase {
		t.Fatalf("default base = %s", c)
	}
	if c := (retry.Policy{}).Ceiling(100); c != retry.DefaultMax {
		t.Fatalf("default max = %s", c)
	}
	if err := (retry.Policy{Base: -1, Max: -1}).Validate(); err == nil {
		t.Fatal("negative policy accepted")
	}
	if err := (retry.Policy{Base: time.Minute, Max: time.Second}).Validate(); err == nil {
		t.Fatal("max below base accepted")
	}
}

// A Base above DefaultMax with Max left zero was accepted, and every delay
// was DefaultMax: the Base given did nothing. It is refused, naming both;
// a Max below the default Base stays valid (it caps, as asked).
func TestBaseAboveDefaultMaxRefused(t *testing.T) {
	p := retry.Policy{Base: 10 * time.Minute}
	if c := p.Ceiling(1); c != retry.DefaultMax {
		t.Fatalf("Ceiling(1) = %s; the test assumes the default max caps it", c)
	}
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "retry base 10m0s is above the default max 5m0s") {
		t.Fatalf("Validate = %v", err)
	}
	for _, ok := range []retry.Policy{{Base: 10 * time.Minute, Max: time.Hour}, {Max: 100 * time.Millisecond}, {Base: retry.DefaultMax}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

// A Base or Max under a millisecond is a bare number of nanoseconds
// (Base: 2 meant 2 s); it was accepted, and every retry came at once.
func TestSubMillisecondRefused(t *testing.T) {
	for _, c := range []struct {
		p    retry.Policy
		want string
	}{
		{retry.Policy{Base: 2}, "retry base 2ns is under a millisecond"},
		{retry.Policy{Max: 30}, "retry max 30ns is under a millisecond"},
		{retry.Policy{Base: 999 * time.Microsecond, Max: time.Second}, "retry base 999µs is under a millisecond"},
	} {
		if err := c.p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: Validate = %v, want %q", c.p, err, c.want)
		}
	}
	if err := (retry.Policy{Base: time.Millisecond, Max: time.Millisecond}).Validate(); err != nil {
		t.Errorf("a millisecond each: %v", err)
	}
}
