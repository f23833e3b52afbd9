package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// TestReportTimesDurableSteps: a code-first workflow's durable steps are
// timed in the report as DAG steps are, by their last attempt (store:
// ReportStep.StartedAt): save takes 3 s, flaky's second attempt 5 s. A
// durable step's row was written when its attempt ended, its start then,
// so every durable step was reported as taking 0 s.
func TestReportTimesDurableSteps(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	must(t, engine.RegisterWorkflow(env.Engine, "r/timed", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		if _, err := engine.Step(wctx, "save", func(context.Context) (int, error) { env.Clock.Advance(3 * time.Second); return 1, nil }); err != nil {
			return 0, err
		}
		return engine.Step(wctx, "flaky", func(ctx context.Context) (int, error) {
			if info, _ := engine.StepInfoFrom(ctx); info.Attempt == 1 {
				env.Clock.Advance(2 * time.Second)
				return 0, errors.New("once")
			}
			env.Clock.Advance(5 * time.Second)
			return 2, nil
		})
	}))
	from := env.Clock.Now()
	for i := range 2 { // one after the other: each step alone moves the clock
		w, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "r/timed", i)
		must(t, err)
		env.RunUntilDone(w.TaskID)
	}
	r, err := env.Report(context.Background(), from, env.Clock.Now().Add(time.Second), engine.ReportFilter{})
	must(t, err)
	want := map[string]time.Duration{"save": 3 * time.Second, "flaky": 5 * time.Second}
	for _, s := range r.Steps {
		if d, ok := want[s.Step]; ok {
			delete(want, s.Step)
			if s.Runs != 2 || s.Mean != d || s.P50 != d || s.P95 != d {
				t.Errorf("step %s: %d runs, mean %s, p50 %s, p95 %s; want 2 runs of %s", s.Step, s.Runs, s.Mean, s.P50, s.P95, d)
			}
		}
	}
	if len(want) > 0 {
		t.Fatalf("steps %+v lack %v", r.Steps, want)
	}
}

// TestReportGroupsDurableStepsByName: a durable step is reported under the
// name the code gave it, whatever its sequence in each run (its row is
// name#seq): "call" comes second in half the runs, after "prep", and
// fails its first attempt in every run, so its 10 runs, all retried, make
// one row and the retries rule fires. They were two rows of 5 runs
// (call#1, call#2), each under the rule's 10, and it said nothing.
func TestReportGroupsDurableStepsByName(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	var mu sync.Mutex
	tries := map[int]int{}
	must(t, engine.RegisterWorkflow(env.Engine, "r/vary", func(wctx *engine.WorkflowContext, n int) (int, error) {
		if n%2 == 1 {
			if _, err := engine.Step(wctx, "prep", func(context.Context) (int, error) { return 0, nil }); err != nil {
				return 0, err
			}
		}
		return engine.Step(wctx, "call", func(context.Context) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			if tries[n]++; tries[n] == 1 {
				return 0, errors.New("boom")
			}
			return n, nil
		})
	}))
	from := env.Clock.Now()
	env.RunUntilDone(startInts(t, env.Engine, "r/vary", 10)...)
	r, err := env.Report(context.Background(), from, env.Clock.Now().Add(time.Second), engine.ReportFilter{})
	must(t, err)
	var names []string
	for _, s := range r.Steps {
		names = append(names, s.Step)
		if s.Step == "call" && (s.Runs != 10 || s.Retried != 10) {
			t.Errorf("step call: %d runs, %d retried; want 10 of 10", s.Runs, s.Retried)
		}
	}
	if want := []string{"call", "prep", engine.DriverStep}; !slices.Equal(names, want) {
		t.Fatalf("steps %q, want %q", names, want)
	}
	if !slices.ContainsFunc(r.Recommendations, func(rc engine.Recommendation) bool {
		return rc.Category == "retries" && strings.Contains(rc.Finding, "step call of r/vary")
	}) {
		t.Fatalf("no retries recommendation for step call: %+v", r.Recommendations)
	}
	for _, b := range r.Bottlenecks {
		if strings.Contains(b.Step, "#") || b.Tasks > 10 {
			t.Errorf("bottleneck %+v: want steps by name, counted once per task", b)
		}
	}
}
