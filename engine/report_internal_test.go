package engine

import (
	"strings"
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

// The p95 trend of a workflow compares two measured p95s: a window whose
// sample holds none of its complete tasks has no p95, and no trend is
// made of it. Before, a window whose tasks all failed read as a p95 of 0,
// "p95_seconds n/w" falling 100 % from the window before, and a workflow
// new to the window a change of 0 from a p95 of 0.
func TestReportP95TrendNeedsBothWindowsTimed(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	from, to := now.Add(-time.Hour), now
	timed := func(ns, name string, at time.Time, took time.Duration) (store.ReportCount, store.ReportTask) {
		done := at.Add(took)
		return store.ReportCount{Namespace: ns, Name: name, State: store.TaskComplete, Count: 1},
			store.ReportTask{ID: at.UnixNano(), Namespace: ns, Name: name, State: store.TaskComplete, CreatedAt: at, CompletedAt: &done}
	}
	failed := func(ns, name string) store.ReportCount {
		return store.ReportCount{Namespace: ns, Name: name, State: store.TaskError, Count: 1}
	}
	prev, cur := &store.ReportData{}, &store.ReportData{}
	// n/both: complete in both windows: a trend. n/gone: complete before,
	// only failed now. n/new: failed before, complete now.
	for _, w := range []struct {
		d    *store.ReportData
		at   time.Time
		name string
	}{{prev, from.Add(-time.Minute * 30), "both"}, {cur, from.Add(time.Minute), "both"}, {prev, from.Add(-time.Minute * 30), "gone"}, {cur, from.Add(time.Minute), "new"}} {
		c, tk := timed("n", w.name, w.at, 2*time.Second)
		w.d.Counts, w.d.Tasks = append(w.d.Counts, c), append(w.d.Tasks, tk)
	}
	cur.Counts = append(cur.Counts, failed("n", "gone"))
	prev.Counts = append(prev.Counts, failed("n", "new"))
	r := buildReport(cur, prev, from, to, now, SystemHealth{})
	var got []string
	for _, tr := range r.Trends {
		if len(tr.Metric) > 3 && tr.Metric[:3] == "p95" {
			got = append(got, tr.Metric)
		}
	}
	if len(got) != 1 || got[0] != "p95_seconds n/both" {
		t.Fatalf("p95 trends %v, want only n/both's (trends %+v)", got, r.Trends)
	}
}

// The database recommendation says why the pool reads high when callers
// waited for a connection: its finding read "under high pressure (2 of
// 10 connections in use)", a contradiction, the waits that made it high
// unsaid.
func TestReportPoolFindingNamesTheWaits(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		h    SystemHealth
		want string
	}{
		{SystemHealth{Pressure: "high", PoolInUse: 2, PoolMax: 10, poolWaits: 3}, "(2 of 10 connections in use; 3 callers waited for one since the reading before)"},
		{SystemHealth{Pressure: "critical", PoolInUse: 9, PoolMax: 10}, "(9 of 10 connections in use)"},
	} {
		r := buildReport(&store.ReportData{}, &store.ReportData{}, now.Add(-time.Hour), now, now, c.h)
		found := false
		for _, rc := range r.Recommendations {
			found = found || rc.Category == "database" && strings.HasSuffix(rc.Finding, c.want)
		}
		if !found {
			t.Errorf("health %+v: recommendations %+v, want a database finding ending %q", c.h, r.Recommendations, c.want)
		}
	}
}

// The concurrency rule says why the tuner holds the limit low, as the
// tuner said it: the action read "the limit is low because the database is
// the bottleneck" also when the tuner had cut it for CPU-bound handlers
// (its ceiling, GOMAXPROCS on a small pool) on a quiet pool.
func TestReportConcurrencyRuleGivesTheTunersReason(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	why := "8 -> 2: pool low (10% in use, 0 waits); handlers CPU-bound (CPU 95% of their wall time): down to the ceiling"
	h := SystemHealth{Concurrency: 2, MaxConcurrency: 32, ReadySteps: 3, concurrencyWhy: why}
	r := buildReport(&store.ReportData{}, &store.ReportData{}, now.Add(-time.Hour), now, now, h)
	for _, rc := range r.Recommendations {
		if rc.Category != "concurrency" {
			continue
		}
		if !strings.Contains(rc.Finding, why) || strings.Contains(rc.Action, "because the database is the bottleneck") {
			t.Fatalf("recommendation %+v: want the tuner's reason in the finding, and no cause asserted in the action", rc)
		}
		return
	}
	t.Fatalf("no concurrency recommendation in %+v", r.Recommendations)
}

// A window with no finished task has no completion or error rate, and no
// rate trend is made of it: the previous window's tasks all still running
// (or none) read as a completion rate of 0, the next window's 100 % a
// change of 0, and a window of running tasks as a fall to 0.
func TestReportRateTrendsNeedFinishedTasksInBothWindows(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	running := &store.ReportData{Counts: []store.ReportCount{{Namespace: "n", Name: "w", State: store.TaskPending, Count: 4}}}
	done := &store.ReportData{Counts: []store.ReportCount{{Namespace: "n", Name: "w", State: store.TaskComplete, Count: 4}}}
	rates := func(r *Report) (got []string) {
		for _, tr := range r.Trends {
			if tr.Metric == "completion_rate" || tr.Metric == "error_rate" {
				got = append(got, tr.Metric)
			}
		}
		return got
	}
	for _, c := range []struct {
		what      string
		cur, prev *store.ReportData
		want      int
	}{{"none finished before", done, running, 0}, {"none finished now", running, done, 0}, {"nothing before", done, &store.ReportData{}, 0}, {"both", done, done, 2}} {
		r := buildReport(c.cur, c.prev, now.Add(-time.Hour), now, now, SystemHealth{})
		if got := rates(r); len(got) != c.want {
			t.Errorf("%s: rate trends %v, want %d (trends %+v)", c.what, got, c.want, r.Trends)
		}
		if len(r.Trends) == 0 || r.Trends[0].Metric != "tasks" {
			t.Errorf("%s: trends %+v, want the tasks' first", c.what, r.Trends)
		}
	}
}
