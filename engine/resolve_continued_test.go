package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// Results that read as a continuation ({"tasker_continued_as_new": ID},
// what a run that ContinueAsNew ended records) are refused for a failed
// workflow's driver, and change nothing: they decoded as the workflow's
// result type (a struct ignores the key, a map takes it), and the task then
// read as continued by task ID, an unrelated one whose result Result
// returned. Results that only carry the key beside others are a value.
func TestResolveOfADriverRefusesAContinuationMarker(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/other", func(*engine.WorkflowContext, int) (map[string]int64, error) {
		return map[string]int64{"total": 99}, nil
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/fails", func(*engine.WorkflowContext, int) (map[string]int64, error) {
		return nil, engine.Permanent(errors.New("no"))
	}))
	other, err := engine.StartWorkflow[int, map[string]int64](ctx, env.Engine, "t/other", 1)
	must(t, err)
	env.RunUntilDone(other.TaskID)
	h, err := engine.StartWorkflow[int, map[string]int64](ctx, env.Engine, "t/fails", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	for _, forged := range []any{
		map[string]int64{"tasker_continued_as_new": other.TaskID},
		map[string]any{"tasker_continued_as_new": float64(other.TaskID)},
	} {
		err = env.Resolve(ctx, h.TaskID, engine.DriverStep, forged)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "tasker_continued_as_new") {
			t.Fatalf("Resolve with %v: %v; want store.ErrInvalid naming the key", forged, err)
		}
		if d := env.Task(h.TaskID); d.Task.State != store.TaskError || d.Step(engine.DriverStep).State == store.StepResolvedManually {
			t.Fatalf("the refused resolve left task %s, driver %s; want them unchanged", d.Task.State, d.Step(engine.DriverStep).State)
		}
	}
	want := map[string]int64{"tasker_continued_as_new": other.TaskID, "total": 1}
	must(t, env.Resolve(ctx, h.TaskID, engine.DriverStep, want))
	if got, err := h.Result(ctx); err != nil || len(got) != 2 || got["total"] != 1 {
		t.Fatalf("Result after the resolve = %v, %v; want %v", got, err, want)
	}
}

// A workflow function's return value that reads as a continuation (a map
// of the one key tasker_continued_as_new to a task id) fails the workflow
// naming the key: recorded as the driver's result, the task read as
// continued by that task, whose result Result returned as this one's.
func TestWorkflowResultThatReadsAsAContinuationFails(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/other", func(*engine.WorkflowContext, int) (map[string]int64, error) {
		return map[string]int64{"total": 99}, nil
	}))
	var next int64
	must(t, engine.RegisterWorkflow(env.Engine, "t/forges", func(*engine.WorkflowContext, int) (map[string]int64, error) {
		return map[string]int64{"tasker_continued_as_new": next}, nil
	}))
	other, err := engine.StartWorkflow[int, map[string]int64](ctx, env.Engine, "t/other", 1)
	must(t, err)
	env.RunUntilDone(other.TaskID)
	next = other.TaskID
	h, err := engine.StartWorkflow[int, map[string]int64](ctx, env.Engine, "t/forges", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	got, err := h.Result(ctx)
	if err == nil || !strings.Contains(err.Error(), "tasker_continued_as_new") {
		t.Fatalf("Result = %v, %v; want the workflow failed naming the key", got, err)
	}
	if st := env.Task(h.TaskID).Task.State; st != store.TaskError {
		t.Fatalf("task %s, want error", st)
	}
}
