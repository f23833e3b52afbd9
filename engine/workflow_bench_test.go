package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/testkit"
)

// BenchmarkWorkflow compares a code-first workflow of ten durable steps with
// a DAG chain of ten steps on the same SQLite file setup (steps/s each), and
// measures the start → done latency of a three-step code-first workflow.
//
//	go test -run '^$' -bench Workflow -benchtime 200x ./engine/
func BenchmarkWorkflow(b *testing.B) {
	noop := func(ctx context.Context) (int, error) { return 1, nil }
	setup := func(b *testing.B) (*engine.Engine, func()) {
		ctx := context.Background()
		s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		e, err := engine.New(engine.Config{Store: s})
		if err != nil {
			b.Fatal(err)
		}
		benchMust(b, e.HandleFunc("noop", func(sc *engine.StepContext) (any, error) { return 1, nil }))
		steps := make([]engine.StepTemplate, 10)
		for i := range steps {
			steps[i] = engine.StepTemplate{Name: fmt.Sprintf("s%d", i), Handler: "noop"}
			if i > 0 {
				steps[i].DependsOn = []string{fmt.Sprintf("s%d", i-1)}
			}
		}
		benchMust(b, e.Register(&engine.Template{Namespace: "bench", Name: "chain10", Steps: steps}))
		for _, n := range []int{3, 10} {
			benchMust(b, engine.RegisterWorkflow(e, fmt.Sprintf("bench/code%d", n), func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
				sum := 0
				for i := range n {
					v, err := engine.Step(wctx, fmt.Sprintf("s%d", i), noop)
					if err != nil {
						return 0, err
					}
					sum += v
				}
				return sum, nil
			}))
		}
		return e, func() { _ = e.Stop(ctx); s.Close() }
	}
	throughput := func(b *testing.B, start func(ctx context.Context, e *engine.Engine) (int64, error)) {
		e, done := setup(b)
		defer done()
		ctx := context.Background()
		ids := make([]int64, b.N)
		for i := range ids {
			id, err := start(ctx, e)
			benchMust(b, err)
			ids[i] = id
		}
		b.ResetTimer()
		t0 := time.Now()
		go e.Run(ctx)
		for _, id := range ids {
			out, err := e.Wait(ctx, id)
			benchMust(b, err)
			if out.State != store.TaskComplete {
				b.Fatalf("task %d ended %s", id, out.State)
			}
		}
		el := time.Since(t0)
		b.ReportMetric(float64(10*b.N)/el.Seconds(), "steps/s")
		b.ReportMetric(float64(el.Nanoseconds())/float64(10*b.N), "ns/step")
	}
	b.Run("dag10", func(b *testing.B) {
		throughput(b, func(ctx context.Context, e *engine.Engine) (int64, error) {
			h, err := e.Start(ctx, "bench/chain10", nil, engine.Unique())
			if err != nil {
				return 0, err
			}
			return h.TaskID, nil
		})
	})
	b.Run("code10", func(b *testing.B) {
		throughput(b, func(ctx context.Context, e *engine.Engine) (int64, error) {
			h, err := engine.StartWorkflow[struct{}, int](ctx, e, "bench/code10", struct{}{}, engine.Unique())
			if err != nil {
				return 0, err
			}
			return h.TaskID, nil
		})
	})
	b.Run("dag3-latency", func(b *testing.B) {
		e, done := setup(b)
		defer done()
		benchMust(b, e.Register(&engine.Template{Namespace: "bench", Name: "chain3", Steps: []engine.StepTemplate{
			{Name: "a", Handler: "noop"}, {Name: "b", Handler: "noop", DependsOn: []string{"a"}}, {Name: "c", Handler: "noop", DependsOn: []string{"b"}},
		}}))
		ctx := context.Background()
		go e.Run(ctx)
		b.ResetTimer()
		for range b.N {
			h, err := e.Start(ctx, "bench/chain3", nil, engine.Unique())
			benchMust(b, err)
			if out, err := h.Wait(ctx); err != nil || out.State != store.TaskComplete {
				b.Fatalf("outcome %v, %v", out, err)
			}
		}
	})
	b.Run("code3-latency", func(b *testing.B) {
		e, done := setup(b)
		defer done()
		ctx := context.Background()
		go e.Run(ctx)
		b.ResetTimer()
		for range b.N {
			h, err := engine.StartWorkflow[struct{}, int](ctx, e, "bench/code3", struct{}{}, engine.Unique())
			benchMust(b, err)
			if v, err := h.Result(ctx); err != nil || v != 3 {
				b.Fatalf("result %d, %v", v, err)
			}
		}
	})
}

func benchMust(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWorkflowResume measures one resume of a code-first workflow
// whose history holds 1,000 recorded steps: an event wakes it, the driver is
// claimed, loads the history, replays the 1,000 steps, consumes the event
// and suspends again (RunOnce on a SQLite file). "replay" measures
// Engine.Replay alone (load and replay, no claim or write).
//
//	go test -run '^$' -bench WorkflowResume -benchtime 50x ./engine/
func BenchmarkWorkflowResume(b *testing.B) {
	env := testkit.NewEngine(b, &testkit.Options{File: true})
	benchMust(b, engine.RegisterWorkflow(env.Engine, "bench/long", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		for i := range 1000 {
			if _, err := engine.Step(wctx, "s", func(ctx context.Context) (int, error) { return i, nil }); err != nil {
				return 0, err
			}
		}
		for {
			if _, err := engine.WaitEvent[int](wctx, "tick", 24*time.Hour); err != nil {
				return 0, err
			}
		}
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, "bench/long", struct{}{})
	benchMust(b, err)
	env.RunFor(time.Minute) // records the 1,000 steps and waits for a tick
	if n := len(env.DurableSteps(h.TaskID)); n != 1001 {
		b.Fatalf("%d durable rows, want 1001", n)
	}
	ticks := 0
	b.Run("resume", func(b *testing.B) {
		for i := range b.N {
			b.StopTimer()
			ticks++
			env.SendEvent(h.TaskID, "tick", fmt.Sprint("t", ticks), i)
			b.StartTimer()
			if n, err := env.RunOnce(ctx); err != nil || n != 1 {
				b.Fatalf("RunOnce ran %d steps, %v", n, err)
			}
		}
	})
	b.Run("replay", func(b *testing.B) {
		for range b.N {
			benchMust(b, env.Replay(ctx, h.TaskID))
		}
	})
}

// BenchmarkContinueAsNewResume replays generation g of a workflow that
// continued as new every 100 steps, for g up to 100: the time stays flat
// because each run's history holds only its own 100 steps.
//
//	go test -run '^$' -bench ContinueAsNewResume -benchtime 50x ./engine/
func BenchmarkContinueAsNewResume(b *testing.B) {
	env := testkit.NewEngine(b, &testkit.Options{File: true})
	registerCounter(b, env.Engine)
	ctx := context.Background()
	h, err := engine.StartWorkflow[counterIn, int](ctx, env.Engine, "t/counter", counterIn{Total: 100 * 100, Per: 100})
	benchMust(b, err)
	var gens []int64
	for id := h.TaskID; id != 0; {
		env.RunUntilDone(id)
		gens = append(gens, id)
		r, err := env.Runs(ctx, id)
		benchMust(b, err)
		id = r.ContinuedAs
	}
	if len(gens) != 100 {
		b.Fatalf("%d generations, want 100", len(gens))
	}
	for _, g := range []int{1, 10, 50, 100} {
		b.Run(fmt.Sprintf("gen=%d", g), func(b *testing.B) {
			for range b.N {
				benchMust(b, env.Replay(ctx, gens[g-1]))
			}
		})
	}
}
