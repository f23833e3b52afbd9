package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A failed code-first workflow (in error) is closed by resolving its
// driver with its return value; results that do not decode as its result
// type are refused (store.ErrInvalid, naming the type) and change nothing:
// Result would fail to decode them. Resolve refused the driver of a task in
// error, and Cancel refuses such a task: nothing closed it.
func TestResolveOfAFailedDriverClosesTheWorkflow(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/fails", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return 0, engine.Permanent(errors.New("no"))
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/fails", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if st := env.Task(h.TaskID).Task.State; st != store.TaskError {
		t.Fatalf("task %s, want error", st)
	}
	err = env.Resolve(ctx, h.TaskID, engine.DriverStep, "five")
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "int") {
		t.Fatalf("Resolve with a string for an int workflow: %v, want store.ErrInvalid naming int", err)
	}
	if d := env.Task(h.TaskID); d.Task.State != store.TaskError || d.Step(engine.DriverStep).State == store.StepResolvedManually {
		t.Fatalf("the refused resolve left task %s, driver %s; want them unchanged", d.Task.State, d.Step(engine.DriverStep).State)
	}
	must(t, env.Resolve(ctx, h.TaskID, engine.DriverStep, 5))
	if got, err := h.Result(ctx); err != nil || got != 5 {
		t.Fatalf("Result after the resolve = %d, %v; want 5", got, err)
	}
	if st := env.Task(h.TaskID).Task.State; st != store.TaskResolvedManually {
		t.Fatalf("task %s after the resolve, want resolved_manually", st)
	}
}

// The driver of a code-first workflow still running is refused: its run
// produces the result. The refusal says what closes it (Cancel, or a
// resolve once it has failed) and changes nothing.
func TestResolveOfARunningDriverAdvisesWhatWorks(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/sleeps", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return 1, engine.Sleep(wctx, time.Hour)
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/sleeps", 1)
	must(t, err)
	_, err = env.RunOnce(ctx)
	must(t, err)
	before := env.Task(h.TaskID)
	err = env.Resolve(ctx, h.TaskID, engine.DriverStep, 5)
	if !errors.Is(err, engine.ErrRefused) || !strings.Contains(err.Error(), "Cancel") || !strings.Contains(err.Error(), "in error") {
		t.Fatalf("Resolve of a running driver: %v, want ErrRefused pointing to Cancel and to a resolve once failed", err)
	}
	if d := env.Task(h.TaskID); d.Task.State != before.Task.State || d.Step(engine.DriverStep).State != before.Step(engine.DriverStep).State {
		t.Fatalf("the refused resolve moved the task %s → %s", before.Task.State, d.Task.State)
	}
}
