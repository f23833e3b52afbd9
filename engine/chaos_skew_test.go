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

// A task started by a process whose clock is 10 minutes off the
// database's gets its WithWorkflowTimeout by the database's clock
// (store.Task.DeadlineAt): a starter behind does not start it timed out,
// one ahead does not give it 10 minutes more. The deadline used to be
// computed on the starter's clock and compared on the worker's. DAG and
// code-first, both databases.
func TestWorkflowTimeoutIgnoresTheStartersClock(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		for _, off := range []time.Duration{10 * time.Minute, -10 * time.Minute} {
			t.Run(db+"/"+off.String(), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				st := openChaosStore(t, db)
				worker := newEngine(t, chaosConfig(st, "worker"))
				cfg := chaosConfig(st, "starter")
				cfg.Clock = chaos.Skewed{Offset: off}
				starter := newEngine(t, cfg) // starts and waits, runs nothing
				quit := make(chan struct{})  // a failed check must not leave Stop waiting for a stuck step
				stuck := func(ctx context.Context) (int, error) {
					select {
					case <-ctx.Done():
						return 0, ctx.Err()
					case <-quit:
						return 0, errors.New("the test ended")
					}
				}
				quick := func(context.Context) (int, error) { return 1, nil }
				for _, e := range []*engine.Engine{worker, starter} {
					for name, fn := range map[string]func(context.Context) (int, error){"quick": quick, "stuck": stuck} {
						must(t, e.HandleFunc(name, func(sc *engine.StepContext) (any, error) { return fn(sc) }))
						must(t, e.Register(&engine.Template{Namespace: "skew", Name: name, Steps: []engine.StepTemplate{{Name: "only", Handler: name}}}))
						must(t, engine.RegisterWorkflow(e, "skew/code-"+name, func(w *engine.WorkflowContext, _ int) (int, error) {
							return engine.Step(w, "only", fn)
						}))
					}
				}
				done, err := worker.RunBackground(ctx)
				must(t, err)
				defer func() { close(quit); must(t, worker.Stop(ctx)); <-done }()
				wctx, cancel := context.WithTimeout(ctx, 30*time.Second) // far below the skew
				defer cancel()

				// A minute is plenty for a step that returns at once.
				dag, err := starter.Start(wctx, "skew/quick", nil, engine.WithWorkflowTimeout(time.Minute))
				must(t, err)
				out, err := dag.Wait(wctx)
				must(t, err)
				if err := out.Err(); err != nil {
					t.Errorf("DAG task with a minute to run: %v", err)
				}
				code, err := engine.StartWorkflow[int, int](wctx, starter, "skew/code-quick", 0, engine.WithWorkflowTimeout(time.Minute))
				must(t, err)
				if _, err := code.Result(wctx); err != nil {
					t.Errorf("workflow with a minute to run: %v", err)
				}

				// 300 ms is over 300 ms after the start, on the real clock.
				t0 := time.Now()
				dag, err = starter.Start(wctx, "skew/stuck", nil, engine.WithWorkflowTimeout(300*time.Millisecond))
				must(t, err)
				out, err = dag.Wait(wctx)
				must(t, err)
				if err := out.Err(); !errors.Is(err, engine.ErrWorkflowTimeout) {
					t.Errorf("DAG task stuck past its 300 ms: %v, want ErrWorkflowTimeout", err)
				}
				code, err = engine.StartWorkflow[int, int](wctx, starter, "skew/code-stuck", 0, engine.WithWorkflowTimeout(300*time.Millisecond))
				must(t, err)
				if _, err := code.Result(wctx); !errors.Is(err, engine.ErrWorkflowTimeout) {
					t.Errorf("workflow stuck past its 300 ms: %v, want ErrWorkflowTimeout", err)
				}
				if took := time.Since(t0); took < 300*time.Millisecond {
					t.Errorf("both timed out %s after the first start, before their 300 ms", took)
				}
			})
		}
	}
}
