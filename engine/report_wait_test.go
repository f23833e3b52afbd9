package engine_test

import (
	"context"
	"strings"
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

// TestReportBottleneckAdviceForWaits: a wait on a workflow's critical path
// (a Sleep, an event, a child) is reported as what it is, with advice that
// fits: the report told the workflow to "speed that step up, or split it
// so part of its work runs alongside the others" about an hour's Sleep,
// which runs nothing.
func TestReportBottleneckAdviceForWaits(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "r/nap", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return 0, engine.Sleep(wctx, 3*time.Hour)
	}))
	waits := map[string]func(wctx *engine.WorkflowContext) error{
		"r/sleep": func(wctx *engine.WorkflowContext) error { return engine.Sleep(wctx, time.Hour) },
		"r/event": func(wctx *engine.WorkflowContext) error {
			_, err := engine.WaitEvent[int](wctx, "go", 24*time.Hour)
			return err
		},
		"r/child": func(wctx *engine.WorkflowContext) error { _, err := engine.Child[int](wctx, "r/nap", 0); return err },
	}
	for name, wait := range waits {
		must(t, engine.RegisterWorkflow(env.Engine, name, func(wctx *engine.WorkflowContext, _ int) (int, error) {
			if _, err := engine.Step(wctx, "fetch", func(context.Context) (int, error) { env.Clock.Advance(time.Second); return 1, nil }); err != nil {
				return 0, err
			}
			return 0, wait(wctx)
		}))
	}
	from := env.Clock.Now()
	for _, name := range []string{"r/sleep", "r/event", "r/child"} {
		w, err := engine.StartWorkflow[int, int](ctx, env.Engine, name, 0)
		must(t, err)
		if name == "r/event" {
			env.RunFor(2 * time.Hour)
			if !env.SendEvent(w.TaskID, "go", "k", 1) {
				t.Fatal("the event was refused")
			}
		}
		env.RunUntilDone(w.TaskID)
	}
	r, err := env.Report(ctx, from, env.Clock.Now().Add(time.Second), engine.ReportFilter{Namespace: "r"})
	must(t, err)
	// By workflow: the wait on its path, and a word its advice must have.
	advice := map[string][2]string{"r/sleep": {"sleep", "Sleep"}, "r/event": {"go", "event"}, "r/child": {"r/nap", "child workflow"}}
	for _, rc := range r.Recommendations {
		for wf, a := range advice {
			if rc.Category == "workflow" && strings.Contains(rc.Finding, " of "+wf+"'s time") {
				delete(advice, wf)
				if !strings.HasPrefix(rc.Finding, "wait "+a[0]+" ") || strings.Contains(rc.Action, "speed that step up") || !strings.Contains(rc.Action, a[1]) {
					t.Errorf("recommendation for %s: %+v; want its wait %s named a wait, and advice about a %s", wf, rc, a[0], a[1])
				}
			}
		}
	}
	if len(advice) > 0 {
		t.Fatalf("no recommendation for the waits %v: %+v (bottlenecks %+v)", advice, r.Recommendations, r.Bottlenecks)
	}
}
