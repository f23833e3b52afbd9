package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// TestReportTimesWaits: a code-first workflow's waits are timed in the
// step table by how long they waited, as the bottlenecks charge them: the
// sleep an hour, the event two (it came two hours after the wait began),
// the child half an hour (it sleeps that long). Their rows are written
// complete when the wait ends, their start then, so each showed 0 s while
// the bottlenecks named them the workflow's time.
func TestReportTimesWaits(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "r/nap", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return 0, engine.Sleep(wctx, 30*time.Minute)
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "r/waits", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		if err := engine.Sleep(wctx, time.Hour); err != nil {
			return 0, err
		}
		if _, err := engine.WaitEvent[int](wctx, "go", 24*time.Hour); err != nil {
			return 0, err
		}
		return engine.Child[int](wctx, "r/nap", 0)
	}))
	from := env.Clock.Now()
	w, err := engine.StartWorkflow[int, int](ctx, env.Engine, "r/waits", 0)
	must(t, err)
	env.RunFor(time.Hour) // the sleep ends, the event wait begins
	env.RunFor(2 * time.Hour)
	if !env.SendEvent(w.TaskID, "go", "k", 1) {
		t.Fatal("the event was refused")
	}
	env.RunUntilDone(w.TaskID)
	if _, err := w.Result(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := env.Report(ctx, from, env.Clock.Now().Add(time.Second), engine.ReportFilter{Workflow: "r/waits"})
	must(t, err)
	want := map[string]time.Duration{"sleep": time.Hour, "go": 2 * time.Hour, "r/nap": 30 * time.Minute}
	for _, s := range r.Steps {
		if d, ok := want[s.Step]; ok {
			delete(want, s.Step)
			// (within a second: the fake clock moves a millisecond a round)
			if s.Runs != 1 || (s.Mean-d).Abs() > time.Second || s.P50 != s.Mean || s.P95 != s.Mean {
				t.Errorf("wait %s: %d runs, mean %s, p50 %s, p95 %s; want 1 run of %s", s.Step, s.Runs, s.Mean, s.P50, s.P95, d)
			}
		}
	}
	if len(want) > 0 {
		t.Fatalf("steps %+v lack %v", r.Steps, want)
	}
}
