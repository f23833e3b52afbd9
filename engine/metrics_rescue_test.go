package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// TestRescuedRetriesAreCounted: a step whose lease expired with attempts
// left is a failed attempt that scheduled a retry, announced as
// step.retry_scheduled: it counts in step_retries_total under its
// workflow, and in Stats.StepsRetried, as a commit's retry does; one out
// of attempts (step.failed) counts in Stats.StepsFailed, not as a retry.
// None of them was counted.
func TestRescuedRetriesAreCounted(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Metrics: m}})
	t.Cleanup(func() { _ = env.Close() })
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "again", Steps: []engine.StepTemplate{{Name: "s", Handler: "h", RetryLimit: 2}}}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "once", Steps: []engine.StepTemplate{{Name: "s", Handler: "h", RetryLimit: 1}}}))
	for _, wf := range []string{"t/again", "t/again", "t/once"} {
		_, err := env.Start(ctx, wf, nil, engine.Unique())
		must(t, err)
	}
	// A worker that claims the steps and disappears.
	claimed, err := env.Store.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "gone", Limit: 10, LeaseTTL: time.Minute, Handlers: []string{"h"}, Now: env.Clock.Now()})
	must(t, err)
	if len(claimed) != 3 {
		t.Fatalf("claimed %d steps, want 3", len(claimed))
	}
	env.Clock.Advance(2 * time.Minute)
	_, err = env.Rescue(ctx)
	must(t, err)
	for wf, want := range map[string]float64{"t/again": 2, "t/once": 0} {
		if got, _ := metricValue(t, reg, "tasker_step_retries_total", map[string]string{"workflow": wf}); got != want {
			t.Errorf("step_retries_total{workflow=%q} = %v, want %v", wf, got, want)
		}
	}
	if got := env.Stats(); got.StepsRetried != 2 || got.StepsFailed != 1 {
		t.Errorf("Stats: %d steps retried, %d failed; want 2 and 1", got.StepsRetried, got.StepsFailed)
	}
}
