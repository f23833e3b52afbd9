package engine_test

import (
	"context"
	"errors"
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
	want := map[string]time.Duration{"save#1": 3 * time.Second, "flaky#2": 5 * time.Second}
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
