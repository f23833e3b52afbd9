package skew

import (
	"testing"
	"time"
)

func TestEstimateTakesTheLargestRecentReading(t *testing.T) {
	var e Estimate
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at      time.Duration
		reading time.Duration
		want    time.Duration
	}{
		{0, -300 * time.Millisecond, -300 * time.Millisecond},             // a slow claim
		{time.Second, -2 * time.Millisecond, -2 * time.Millisecond},       // a quick one is closer
		{2 * time.Second, -400 * time.Millisecond, -2 * time.Millisecond}, // a slow one does not undo it
		{Window + time.Second, -50 * time.Millisecond, -2 * time.Millisecond},
		{2*Window + 2*time.Second, -50 * time.Millisecond, -50 * time.Millisecond}, // two windows on, -2 ms is forgotten
		{2*Window + 3*time.Second, 5 * time.Minute, 5 * time.Minute},               // a store ahead shows at once
		{10 * Window, -time.Minute, -time.Minute},                                  // nothing recent: start over
		{9 * Window, -3 * time.Minute, -3 * time.Minute},                           // our clock went back: start over
	}
	for i, s := range steps {
		if got := e.Observe(t0.Add(s.at), s.reading); got != s.want {
			t.Fatalf("step %d: Observe(+%s, %s) = %s, want %s", i, s.at, s.reading, got, s.want)
		}
	}
}
