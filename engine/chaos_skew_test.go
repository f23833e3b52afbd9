package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/chaos"
)

// A code-first workflow run by a worker whose clock is 5 minutes off the
// database's (ahead, then behind): its durable step's retry and its
// durable sleep wait their delays on the real clock — the worker ahead
// does not fire them at once, the one behind does not wait 5 minutes
// more. Both databases; the DAG side, leases included, is the chaos
// scenario "clock skew ±5 min".
func TestClockSkewCodeFirst(t *testing.T) {
	t.Parallel()
	const backoff, sleep = 300 * time.Millisecond, 400 * time.Millisecond
	for _, db := range []string{"sqlite", "postgres"} {
		for _, off := range []time.Duration{5 * time.Minute, -5 * time.Minute} {
			t.Run(db+"/"+off.String(), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				cfg := chaosConfig(openChaosStore(t, db), "skewed")
				cfg.Clock = chaos.Skewed{Offset: off}
				e := newEngine(t, cfg)
				var mu sync.Mutex
				var failedAt, retriedAt time.Time
				must(t, engine.RegisterWorkflow(e, "skew/flow", func(w *engine.WorkflowContext, _ int) (time.Duration, error) {
					if _, err := engine.Step(w, "fails once", func(ctx context.Context) (int, error) {
						mu.Lock()
						defer mu.Unlock()
						if info, _ := engine.StepInfoFrom(ctx); info.Attempt == 1 {
							failedAt = time.Now()
							return 0, engine.Retryable(errors.New("once"), backoff)
						}
						retriedAt = time.Now()
						return 1, nil
					}); err != nil {
						return 0, err
					}
					now := func(context.Context) (time.Time, error) { return time.Now(), nil }
					t0, err := engine.Step(w, "before sleep", now)
					if err != nil {
						return 0, err
					}
					if err := engine.Sleep(w, sleep); err != nil {
						return 0, err
					}
					t1, err := engine.Step(w, "after sleep", now)
					return t1.Sub(t0), err
				}))
				done, err := e.RunBackground(ctx)
				must(t, err)
				defer func() { must(t, e.Stop(ctx)); <-done }()
				h, err := engine.StartWorkflow[int, time.Duration](ctx, e, "skew/flow", 1)
				must(t, err)
				wctx, cancel := context.WithTimeout(ctx, time.Minute) // 5 minutes behind would take 5 minutes
				defer cancel()
				slept, err := h.Result(wctx)
				must(t, err)
				if slept < sleep {
					t.Errorf("slept %s on the real clock, want %s", slept, sleep)
				}
				mu.Lock()
				defer mu.Unlock()
				if gap := retriedAt.Sub(failedAt); gap < backoff {
					t.Errorf("retried %s after the failure, before the backoff of %s", gap, backoff)
				}
			})
		}
	}
}
