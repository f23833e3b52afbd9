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

// The summary counts the tasks an operator resolved (resolved_manually)
// apart from the cancelled ones: Cancelled counted both, and the summary
// said 3 tasks were cancelled when 1 was. Both are finished tasks, in the
// rates' denominators.
func TestReportSummaryCountsResolvedApart(t *testing.T) {
	d := &store.ReportData{Counts: []store.ReportCount{
		{Namespace: "n", Name: "w", State: store.TaskComplete, Count: 6},
		{Namespace: "n", Name: "w", State: store.TaskError, Count: 1},
		{Namespace: "n", Name: "w", State: store.TaskCancelled, Count: 1},
		{Namespace: "n", Name: "w", State: store.TaskResolvedManually, Count: 2},
		{Namespace: "n", Name: "w", State: store.TaskPending, Count: 4},
	}}
	s := summarise(d, time.Hour)
	if s.Tasks != 14 || s.Cancelled != 1 || s.Resolved != 2 || s.Running != 4 {
		t.Fatalf("summary %+v: want 14 tasks, 1 cancelled, 2 resolved, 4 running", s)
	}
	if s.CompletionRate != 0.6 || s.ErrorRate != 0.1 {
		t.Fatalf("rates %v, %v: want 0.6 and 0.1 of the 10 finished", s.CompletionRate, s.ErrorRate)
	}
}
