package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// Explain only reads: asking it about a step whose system's breaker is
// half-open does not take the breaker's probe. It did (it asked the gate's
// Allow, which hands the probes out), so the step itself was then held
// back for another open period, and a dashboard polling the task could
// keep the system from ever being probed.
func TestExplainTakesNoHalfOpenProbe(t *testing.T) {
	cfg := engine.Config{Breaker: cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: 10 * time.Second}}
	env := testkit.NewEngine(t, &testkit.Options{Config: cfg})
	var calls atomic.Int32
	paymentsFlow(t, env.Engine, func(sc *engine.StepContext) (any, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("payments down") // opens the breaker
		}
		return "paid", nil
	})
	ctx := context.Background()
	h, err := env.Start(ctx, "shop/pay", map[string]int{"N": 1})
	must(t, err)
	if n, err := env.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("first attempt: %d, %v", n, err)
	}
	env.Clock.Advance(10 * time.Second) // the breaker is half-open: one probe
	registerWorker(t, env, "w1", "pay") // (Explain weighs the gate for a step a live worker serves)
	if s := explainStep(t, env.Engine, h.TaskID, "charge"); s.Kind != engine.ExplainReady {
		t.Fatalf("the half-open system's step explained as %s (%s), want ready", s.Kind, s.Reason)
	}
	for range 3 {
		if _, err := env.Explain(ctx, h.TaskID); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := env.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("second attempt: %d, %v", n, err)
	}
	if d := env.Task(h.TaskID); calls.Load() != 2 || d.Task.State != store.TaskComplete {
		t.Fatalf("after Explain, the half-open breaker's probe: handler ran %d times (want 2), task %s", calls.Load(), d.Task.State)
	}
}
