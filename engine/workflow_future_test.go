package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/testkit"
)

// Futures take their sequence numbers when Go is called, so a run that
// stops while earlier futures are still running leaves a gap: the later
// future is recorded, the earlier ones are not. This test makes that
// happen (a hard stop while futures 1 and 2 run and 3 is recorded) and
// shows it is harmless: the resumed run takes the same numbers in the same
// order, runs 1 and 2 into the gap, returns 3's recorded result without
// running it, and the history ends gap-free and replays.
func TestWorkflowFutureGapAfterStopIsFilled(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gap.db"), nil)
	must(t, err)
	defer s.Close()
	var mu sync.Mutex
	ran := map[string]int{}
	block := true
	register := func(e *engine.Engine) {
		must(t, engine.RegisterWorkflow(e, "t/gap", func(wctx *engine.WorkflowContext, in struct{}) (string, error) {
			var fs []*engine.Future[string]
			for i := range 3 {
				fs = append(fs, engine.Go(wctx, fmt.Sprint("part", i+1), func(ctx context.Context) (string, error) {
					mu.Lock()
					ran[fmt.Sprint("part", i+1)]++
					wait := block && i < 2
					mu.Unlock()
					if wait { // parts 1 and 2 run until the engine stops
						<-ctx.Done()
						return "", ctx.Err()
					}
					return fmt.Sprint("p", i+1), nil
				}))
			}
			parts, err := engine.All(fs...)
			if err != nil {
				return "", err
			}
			last, err := engine.Step(wctx, "after", func(ctx context.Context) (string, error) { return "a", nil })
			return fmt.Sprint(parts, last), err
		}))
	}
	sequences := func(id int64) []int {
		d, err := s.GetTask(ctx, id)
		must(t, err)
		var seqs []int
		for _, st := range d.Steps {
			if st.Sequence != nil && st.State == store.StepComplete {
				seqs = append(seqs, *st.Sequence)
			}
		}
		slices.Sort(seqs)
		return seqs
	}
	cfg := engine.Config{Store: s, Execution: engine.ExecutionConfig{LeaseTTL: time.Second, RescueInterval: 50 * time.Millisecond, PollInterval: 20 * time.Millisecond}}

	e, err := engine.New(cfg)
	must(t, err)
	register(e)
	h, err := engine.StartWorkflow[struct{}, string](ctx, e, "t/gap", struct{}{})
	must(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	// Wait (on the database) until part 3 is recorded, then stop hard.
	for deadline := time.Now().Add(10 * time.Second); !slices.Equal(sequences(h.TaskID), []int{3}); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("part 3 was not recorded alone: %v", sequences(h.TaskID))
		}
	}
	stop()
	must(t, <-done)
	if got := sequences(h.TaskID); !slices.Equal(got, []int{3}) {
		t.Fatalf("after the stop the recorded sequences are %v, want the gap [3]", got)
	}

	mu.Lock()
	block = false
	mu.Unlock()
	e2, err := engine.New(cfg)
	must(t, err)
	register(e2)
	run(t, e2)
	got, err := engine.GetWorkflow[string](e2, h.TaskID).Result(ctx)
	must(t, err)
	if got != "[p1 p2 p3]a" {
		t.Fatalf("result %q", got)
	}
	if seqs := sequences(h.TaskID); !slices.Equal(seqs, []int{1, 2, 3, 4}) {
		t.Fatalf("recorded sequences %v, want 1..4", seqs)
	}
	mu.Lock()
	defer mu.Unlock()
	if ran["part3"] != 1 || ran["part1"] != 2 || ran["part2"] != 2 {
		t.Fatalf("executions %v: part 3 (recorded) must run once, parts 1 and 2 twice", ran)
	}
	must(t, e2.Replay(ctx, h.TaskID))
}

// TestDurableOperationInsideAFutureFailsTheWorkflow: a durable operation
// called inside a Go future's function while the workflow is inside another
// one (a durable step's function runs, or Select waits for the future)
// fails the workflow at once, naming both. It took the next sequence
// number and was recorded, or it said it was called inside the step's
// function, which it was not; a later run, returning the future's record
// without calling its function, found it where the workflow's next
// operation stood and failed as not deterministic, far from the mistake.
func TestDurableOperationInsideAFutureFailsTheWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/futurestep", func(wctx *engine.WorkflowContext, in int) (int, error) {
		running, called := make(chan struct{}), make(chan struct{})
		f := engine.Go(wctx, "a", func(ctx context.Context) (int, error) {
			<-running // the workflow is inside step b's function
			defer close(called)
			return engine.Step(wctx, "inner", func(ctx context.Context) (int, error) { return in, nil })
		})
		if _, err := engine.Step(wctx, "b", func(ctx context.Context) (int, error) {
			close(running)
			<-called
			return 1, nil
		}); err != nil {
			return 0, err
		}
		return f.Get()
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/futureselect", func(wctx *engine.WorkflowContext, in int) (int, error) {
		f := engine.Go(wctx, "a", func(ctx context.Context) (int, error) {
			// Until the Select has recorded its wait for the event: it
			// then waits for this future.
			for selecting := false; !selecting; {
				d, err := env.Store.GetTask(ctx, wctx.TaskID)
				if err != nil {
					return 0, err
				}
				for _, s := range d.Steps {
					selecting = selecting || s.Handler == "workflow.select"
				}
				select {
				case <-ctx.Done():
					return 0, ctx.Err()
				case <-time.After(time.Millisecond): // polling the database
				}
			}
			return engine.Step(wctx, "inner", func(ctx context.Context) (int, error) { return in, nil })
		})
		var never int
		if _, err := engine.Select(wctx, engine.OnFuture(f), engine.OnEvent("never", &never)); err != nil {
			return 0, err
		}
		return f.Get()
	}))
	for wf, want := range map[string]string{
		"t/futurestep":   `step "inner" called while durable step "b" runs and Go futures' functions with it: inside one of their functions`,
		"t/futureselect": `step "inner" called while engine.Select waits for Go futures: inside a future's function`,
	} {
		h, err := engine.StartWorkflow[int, int](ctx, env.Engine, wf, 1)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want the workflow failed at once saying %s", wf, err, want)
		}
		for _, s := range env.DurableSteps(h.TaskID) {
			if s.Name == "inner" {
				t.Errorf("%s: the inner step was recorded: %+v", wf, s)
			}
		}
	}
}

// TestDurableOperationAfterTheWorkflowReturnedRunsNothing: a durable
// operation called by a goroutine of the workflow's own after the workflow
// function returned returns an error saying so, and runs nothing. It ran
// the step's function (its side effects done), then the store refused its
// record, the driver's lease gone, with "lease lost".
func TestDurableOperationAfterTheWorkflowReturnedRunsNothing(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	late, got := make(chan struct{}), make(chan error, 1)
	var ran atomic.Bool
	must(t, engine.RegisterWorkflow(env.Engine, "t/late", func(wctx *engine.WorkflowContext, in int) (int, error) {
		go func() {
			<-late
			_, err := engine.Step(wctx, "late", func(ctx context.Context) (int, error) { ran.Store(true); return 1, nil })
			got <- err
		}()
		return in, nil
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/late", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	close(late)
	err = <-got
	if want := "after its workflow function returned"; ran.Load() || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("late Step: ran %v, %v; want nothing run and an error saying %q", ran.Load(), err, want)
	}
	if v, err := h.Result(ctx); v != 1 || err != nil {
		t.Errorf("result %d, %v; want 1", v, err)
	}
	if steps := env.DurableSteps(h.TaskID); len(steps) != 0 {
		t.Errorf("durable steps recorded: %+v", steps)
	}
}
