package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// Explain tells a system's pause from its open breaker, and gives a pause's
// end as when the step may run but an open breaker's recheck as a recheck:
// both read "paused (or its breaker open) until T", T being for a breaker
// the next look a second on, though it stays open for its OpenFor.
func TestExplainTellsAnOpenBreakerFromAPause(t *testing.T) {
	ctx := context.Background()
	cfg := engine.Config{Breaker: cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Minute}}
	env := testkit.NewEngine(t, &testkit.Options{Config: cfg})
	paymentsFlow(t, env.Engine, func(sc *engine.StepContext) (any, error) {
		return nil, errors.New("payments down") // opens the breaker
	})
	registerWorker(t, env, "w1", "pay")
	h, err := env.Start(ctx, "shop/pay", map[string]int{"N": 1})
	must(t, err)
	if n, err := env.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("first attempt: %d, %v", n, err)
	}
	env.Clock.Advance(time.Second) // the retry is due; the breaker stays open 59 s more
	s := explainStep(t, env.Engine, h.TaskID, "charge")
	if s.Kind != engine.ExplainSystemPaused || !strings.Contains(s.Reason, "circuit breaker") || strings.Contains(s.Reason, "paused") ||
		!strings.Contains(s.Reason, "looks again") {
		t.Fatalf("a step held by an open breaker explained as %s: %q", s.Kind, s.Reason)
	}

	env2 := testkit.NewEngine(t, nil)
	paymentsFlow(t, env2.Engine, func(sc *engine.StepContext) (any, error) {
		return nil, engine.Retryable(errors.New("429"), 30*time.Second)
	})
	registerWorker(t, env2, "w1", "pay")
	_, err = env2.Start(ctx, "shop/pay", map[string]int{"N": 1})
	must(t, err)
	if n, err := env2.RunOnce(ctx); err != nil || n != 1 { // pauses payments 30 s
		t.Fatalf("first attempt: %d, %v", n, err)
	}
	h2, err := env2.Start(ctx, "shop/pay", map[string]int{"N": 2})
	must(t, err)
	s = explainStep(t, env2.Engine, h2.TaskID, "charge")
	if s.Kind != engine.ExplainSystemPaused || !strings.Contains(s.Reason, "is paused until") || strings.Contains(s.Reason, "breaker") {
		t.Fatalf("a step held by a pause explained as %s: %q", s.Kind, s.Reason)
	}
}
