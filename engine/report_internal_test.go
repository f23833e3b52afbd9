package engine

import (
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// The concurrency rule fires when the dynamic tuner holds the limit under
// five while steps wait, and not for a MaxConcurrency set that low.
func TestReportConcurrencyRule(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		h    SystemHealth
		want bool
	}{
		{SystemHealth{Concurrency: 2, MaxConcurrency: 32, ReadySteps: 3}, true},
		{SystemHealth{Concurrency: 2, MaxConcurrency: 32}, false},                // nothing waits
		{SystemHealth{Concurrency: 4, MaxConcurrency: 4, ReadySteps: 3}, false},  // the operator's limit
		{SystemHealth{Concurrency: 8, MaxConcurrency: 32, ReadySteps: 3}, false}, // not low
	} {
		r := buildReport(&store.ReportData{}, &store.ReportData{}, now.Add(-time.Hour), now, now, c.h)
		got := false
		for _, rc := range r.Recommendations {
			got = got || rc.Category == "concurrency"
		}
		if got != c.want {
			t.Errorf("health %+v: concurrency recommendation %v, want %v (%+v)", c.h, got, c.want, r.Recommendations)
		}
	}
}
