package engine_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// TestReportOfASeededWorkload runs a workload whose answers are known:
// four chains a (1 s) → b (3 s) → c (1 s), one of whose b needs a second
// attempt, and one task that fails at once.
func TestReportOfASeededWorkload(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	t0 := env.Clock.Now()
	took := map[string]time.Duration{"a": time.Second, "b": 3 * time.Second, "c": time.Second}
	for name, d := range took {
		must(t, env.HandleFunc(name, func(sc *engine.StepContext) (any, error) {
			env.Clock.Advance(d)
			var in struct{ N int }
			_ = sc.Input(&in)
			if name == "b" && sc.Attempt == 1 && in.N == 3 {
				return nil, engine.Retryable(errors.New("flaky"), time.Second)
			}
			return "ok", nil
		}))
	}
	must(t, env.HandleFunc("bad", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("no")) }))
	must(t, env.Register(&engine.Template{Namespace: "r", Name: "chain", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "a"}, {Name: "b", Handler: "b", DependsOn: []string{"a"}}, {Name: "c", Handler: "c", DependsOn: []string{"b"}}}}))
	must(t, env.Register(&engine.Template{Namespace: "r", Name: "bad", Steps: []engine.StepTemplate{{Name: "x", Handler: "bad"}}}))
	for n := range 4 {
		hd, err := env.Start(context.Background(), "r/chain", map[string]int{"n": n})
		must(t, err)
		env.RunUntilDone(hd.TaskID)
	}
	hd, err := env.Start(context.Background(), "r/bad", nil)
	must(t, err)
	env.RunUntilDone(hd.TaskID)

	from, to := t0, t0.Add(time.Hour)
	env.Clock.Set(to) // the whole window has passed: throughput per hour is its count
	r, err := env.Report(context.Background(), from, to, engine.ReportFilter{})
	must(t, err)
	s := r.Summary
	if s.Tasks != 5 || s.Complete != 4 || s.Failed != 1 || s.CompletionRate != 0.8 || s.ErrorRate != 0.2 || s.ThroughputPerHour != 4 || r.Sampled != 5 {
		t.Fatalf("summary %+v (sampled %d)", s, r.Sampled)
	}
	// Durations: three chains of 5 s; the retried one 5 s + 3 s (the
	// failed attempt) + 1 s (its Retry-After) = 9 s.
	chain := s.Workflows[1]
	if chain.Workflow != "r/chain" || chain.P50 != 5*time.Second || chain.P95 != 9*time.Second {
		t.Fatalf("workflow summary %+v", s.Workflows)
	}
	var b engine.StepReport
	for _, st := range r.Steps {
		if st.Workflow == "r/chain" && st.Step == "b" {
			b = st
		}
	}
	if b.Runs != 4 || b.Attempts != 5 || b.Retried != 1 || b.RetryRate != 0.25 || b.P50 != 3*time.Second || b.Mean != 3*time.Second {
		t.Fatalf("step b %+v", b)
	}
	// The critical path: b holds 3 s of each 5 s chain, and 7 of the 9 s
	// one (its failed attempt, the wait, the second attempt): 16 of 24 s.
	top := r.Bottlenecks[0]
	if top.Workflow != "r/chain" || top.Step != "b" || math.Abs(top.Share-16.0/24) > 1e-9 || top.Tasks != 4 || top.Mean != 4*time.Second {
		t.Fatalf("bottlenecks %+v", r.Bottlenecks)
	}
	if !slices.ContainsFunc(r.Recommendations, func(rc engine.Recommendation) bool { return rc.Category == "workflow" }) {
		t.Fatalf("recommendations %+v lack the dominant step", r.Recommendations)
	}
	if slices.ContainsFunc(r.Recommendations, func(rc engine.Recommendation) bool { return rc.Category == "errors" }) {
		t.Fatalf("the error rule needs 10 finished tasks: %+v", r.Recommendations)
	}
	if r.Trends[0].Metric != "tasks" || r.Trends[0].Previous != 0 || r.Trends[0].Current != 5 {
		t.Fatalf("trends %+v", r.Trends)
	}
	if r.Health.MaxConcurrency != 32 || r.Health.Pressure == "" {
		t.Fatalf("health %+v", r.Health)
	}
	if r.Cached || r.GeneratedAt.IsZero() {
		t.Fatalf("first report cached=%v generated %v", r.Cached, r.GeneratedAt)
	}
	// Asked again: from the cache, as generated the first time.
	again, err := env.Report(context.Background(), from, to, engine.ReportFilter{})
	must(t, err)
	if !again.Cached || !again.GeneratedAt.Equal(r.GeneratedAt) || again.Summary.Tasks != 5 {
		t.Fatalf("second report cached=%v generated %v", again.Cached, again.GeneratedAt)
	}
	// A filter narrows; the next window compares with this one.
	one, err := env.Report(context.Background(), from, to, engine.ReportFilter{Workflow: "r/bad"})
	must(t, err)
	if one.Summary.Tasks != 1 || one.Cached || len(one.Summary.Workflows) != 1 {
		t.Fatalf("filtered report %+v", one.Summary)
	}
	next, err := env.Report(context.Background(), to, to.Add(time.Hour), engine.ReportFilter{})
	must(t, err)
	if next.Summary.Tasks != 0 || next.Trends[0].Previous != 5 || next.Trends[0].Change != -1 {
		t.Fatalf("next window %+v trends %+v", next.Summary, next.Trends)
	}
	for _, bad := range []struct {
		from, to time.Time
		f        engine.ReportFilter
	}{{to, from, engine.ReportFilter{}}, {from, to, engine.ReportFilter{Workflow: "nope"}}, {from, to, engine.ReportFilter{Namespace: "x", Workflow: "r/bad"}}} {
		if _, err := env.Report(context.Background(), bad.from, bad.to, bad.f); err == nil {
			t.Errorf("Report(%v, %v, %+v) accepted", bad.from, bad.to, bad.f)
		}
	}
}

// A report's filter that can match nothing is refused, naming it.
func TestReportRefusesFiltersThatMatchNothing(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	to := env.Clock.Now()
	for _, f := range []engine.ReportFilter{
		{Namespace: "shop/fanout"}, // a workflow given as namespace
		{Namespace: "shop@1.0"},
		{Workflow: "shop"},
		{Namespace: "shop", Workflow: "billing/charge"},
		// A version, or a '/' or '@' in either part: no task's workflow
		// reads so, and the report was empty.
		{Workflow: "shop/order@1.0.0"},
		{Workflow: "shop/order/x"},
		{Workflow: "shop@1/order"},
	} {
		_, err := env.Report(context.Background(), to.Add(-time.Hour), to, f)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Report(%+v): err %v, want store.ErrInvalid", f, err)
			continue
		}
		if name := cmp.Or(f.Namespace, f.Workflow); !strings.Contains(err.Error(), strconv.Quote(name)) && !strings.Contains(err.Error(), strconv.Quote(f.Workflow)) {
			t.Errorf("Report(%+v): %v does not name the filter", f, err)
		}
	}
}

// The concurrency rule (the plan's "recommended concurrency < 5: the
// system is under connection pressure") speaks of the limit the dynamic
// tuner holds, not of a MaxConcurrency the operator chose: with a fixed
// limit of 4 on SQLite (no tuning, no pool pressure) and steps waiting,
// it said "the limit is low because the database is the bottleneck".
func TestReportConcurrencyRuleIsAboutTheTunedLimit(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Execution: engine.ExecutionConfig{MaxConcurrency: 4}}})
	t.Cleanup(func() { _ = env.Close() })
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, env.Register(&engine.Template{Namespace: "r", Name: "w", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	from := env.Clock.Now()
	_, err := env.Start(context.Background(), "r/w", nil)
	must(t, err)
	env.Clock.Advance(time.Minute)
	r, err := env.Report(context.Background(), from, env.Clock.Now(), engine.ReportFilter{})
	must(t, err)
	if r.Health.ReadySteps != 1 || r.Health.MaxConcurrency != 4 || r.Health.Concurrency != 4 {
		t.Fatalf("health %+v, want one ready step and a limit of 4 of 4", r.Health)
	}
	if i := slices.IndexFunc(r.Recommendations, func(rc engine.Recommendation) bool { return rc.Category == "concurrency" }); i >= 0 {
		t.Fatalf("recommendation %+v for a limit the operator set, not the database", r.Recommendations[i])
	}
}

// A code-first workflow's critical path is its durable steps in the
// order the code ran them, not its driver step (named "workflow"), which
// runs from the task's start to its end: every code-first workflow was
// reported as "step workflow takes 100 % of its time" and told to speed
// that step up or split it.
func TestReportBottlenecksOfACodeFirstWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	must(t, engine.RegisterWorkflow(env.Engine, "r/code", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if _, err := engine.Step(wctx, "fetch", func(context.Context) (int, error) { env.Clock.Advance(time.Second); return 1, nil }); err != nil {
			return 0, err
		}
		if err := engine.Sleep(wctx, time.Minute); err != nil {
			return 0, err
		}
		return engine.Step(wctx, "save", func(context.Context) (int, error) { env.Clock.Advance(3 * time.Second); return 2, nil })
	}))
	from := env.Clock.Now()
	var ids []int64
	for i := range 3 {
		w, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "r/code", i)
		must(t, err)
		ids = append(ids, w.TaskID)
	}
	env.RunUntilDone(ids...)
	r, err := env.Report(context.Background(), from, env.Clock.Now().Add(time.Second), engine.ReportFilter{})
	must(t, err)
	if len(r.Bottlenecks) == 0 {
		t.Fatal("no bottleneck")
	}
	for _, b := range r.Bottlenecks {
		if b.Step == engine.DriverStep {
			t.Fatalf("bottlenecks %+v name the workflow's driver step", r.Bottlenecks)
		}
	}
	if top := r.Bottlenecks[0]; !strings.HasPrefix(top.Step, "sleep") || top.Tasks != 3 {
		t.Fatalf("bottlenecks %+v, want the minute's sleep first", r.Bottlenecks)
	}
	for _, rc := range r.Recommendations {
		if strings.Contains(rc.Finding, "step "+engine.DriverStep+" ") {
			t.Fatalf("recommendation %+v about the driver step", rc)
		}
	}
}

// The retries rule's action names what a code-first workflow's durable
// step can use (the predictive_retry toggle, WithStepDependentSystem):
// it named Template.PredictiveRetry alone, which such a workflow has not.
func TestReportRetriesRuleForADurableStep(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	registerFailsOnce(t, env.Engine, "r/flaky")
	from := env.Clock.Now()
	env.RunUntilDone(startInts(t, env.Engine, "r/flaky", 10)...)
	r, err := env.Report(context.Background(), from, env.Clock.Now().Add(time.Second), engine.ReportFilter{})
	must(t, err)
	i := slices.IndexFunc(r.Recommendations, func(rc engine.Recommendation) bool { return rc.Category == "retries" })
	if i < 0 {
		t.Fatalf("no retries recommendation: %+v", r.Recommendations)
	}
	if a := r.Recommendations[i].Action; !strings.Contains(a, "predictive_retry") || !strings.Contains(a, "WithStepDependentSystem") {
		t.Fatalf("action %q, want the toggle and the durable step's option named", a)
	}
}

// A report served from the cache carries the filter it was asked with:
// an equivalent filter written otherwise (the namespace given beside the
// workflow) shares the cached report, and got the first caller's filter.
func TestReportFilterIsTheCallersFromTheCache(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	from, to := env.Clock.Now(), env.Clock.Now().Add(time.Hour)
	_, err := env.Report(context.Background(), from, to, engine.ReportFilter{Workflow: "r/w"})
	must(t, err)
	f := engine.ReportFilter{Namespace: "r", Workflow: "r/w"}
	r, err := env.Report(context.Background(), from, to, f)
	must(t, err)
	if !r.Cached || r.Filter != f {
		t.Fatalf("cached %v, filter %+v, want the cached report with filter %+v", r.Cached, r.Filter, f)
	}
}

// A report of a window with nothing in it gives its lists as [] in JSON,
// as it gave steps: bottlenecks, recommendations and the summary's
// workflows were null, so a script iterating them needed a nil check.
func TestEmptyReportListsAreEmptyNotNull(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	to := env.Clock.Now()
	r, err := env.Report(context.Background(), to.Add(-time.Hour), to, engine.ReportFilter{})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"steps":[]`, `"bottlenecks":[]`, `"recommendations":[]`, `"workflows":[]`} {
		if !strings.Contains(string(doc), key) {
			t.Errorf("report JSON lacks %s:\n%s", key, doc)
		}
	}
}

// A window Report cannot report on is refused, naming it, as the admin
// API and the CLI refuse the since that would make it: one entirely in the
// future (no task was created in it yet: an empty report, and a trend
// against a window that had not passed either), and one longer than
// MaxReportWindow (the report reads it and the one before it: a window
// from the zero year read every task twice). Both were accepted.
func TestReportRefusesAFutureOrUnboundedWindow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	ctx := context.Background()
	now := env.Clock.Now()
	for _, c := range []struct {
		from, to time.Time
		want     string
	}{
		{now.Add(time.Second), now.Add(time.Hour), "is entirely in the future"},
		{now.Add(24 * time.Hour), now.Add(25 * time.Hour), "is entirely in the future"},
		{now.Add(-engine.MaxReportWindow - time.Minute), now, "is longer than 744h0m0s (MaxReportWindow)"},
		{time.Unix(1, 0), now, "is longer than 744h0m0s"},
	} {
		_, err := env.Report(ctx, c.from, c.to, engine.ReportFilter{})
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.from.UTC().Format(time.RFC3339)) {
			t.Errorf("Report(%s, %s): %v, want store.ErrInvalid saying %q and naming the window", c.from, c.to, err, c.want)
		}
	}
	// The longest window, one starting now, and one ending in the future
	// (the admin API's ends with the current minute) are reported.
	for _, w := range [][2]time.Time{{now.Add(-engine.MaxReportWindow), now}, {now, now.Add(time.Hour)}, {now.Add(-time.Hour), now.Add(time.Minute)}} {
		if _, err := env.Report(ctx, w[0], w[1], engine.ReportFilter{}); err != nil {
			t.Errorf("Report(%s, %s): %v", w[0], w[1], err)
		}
	}
}
