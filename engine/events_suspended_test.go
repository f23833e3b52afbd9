package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// TestStepSuspendedEvents: step.suspended announces a code-first
// workflow's driver suspending (a sleep here) and also a DAG step held back
// because its dependent system's breaker is open, which goes back to
// pending without starting (no step.started). Its doc named the first
// only.
func TestStepSuspendedEvents(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Breaker: cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Hour}}})
	t.Cleanup(func() { _ = env.Close() })
	ctx := context.Background()
	must(t, env.HandleFunc("call", func(*engine.StepContext) (any, error) { return nil, errors.New("down") }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "api", Steps: []engine.StepTemplate{
		{Name: "call", Handler: "call", DependentSystem: "api", NotRetryable: true},
	}}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/nap", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return 1, engine.Sleep(wctx, time.Minute)
	}))
	first, err := env.Start(ctx, "t/api", map[string]int{"n": 1})
	must(t, err)
	env.RunUntilDone(first.TaskID) // fails, and opens the breaker

	events, stop := env.Subscribe(64)
	defer stop()
	held, err := env.Start(ctx, "t/api", map[string]int{"n": 2})
	must(t, err)
	nap, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/nap", 1)
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[int64][]string{}
	for len(events) > 0 {
		ev := <-events
		if ev.Name != engine.EventTaskStarted {
			got[ev.TaskID] = append(got[ev.TaskID], ev.Name+" "+ev.Step)
		}
	}
	if g := got[held.TaskID]; len(g) != 1 || g[0] != engine.EventStepSuspended+" call" {
		t.Errorf("the held step's events %q, want only %q", g, engine.EventStepSuspended+" call")
	}
	if g := got[nap.TaskID]; len(g) != 2 || g[0] != engine.EventStepStarted+" "+engine.DriverStep || g[1] != engine.EventStepSuspended+" "+engine.DriverStep {
		t.Errorf("the sleeping workflow's events %q, want its driver started, then suspended", g)
	}
}
