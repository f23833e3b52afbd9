package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A code-first parent runs a code-first child and a DAG child and combines
// their results; the children are linked to it and never started twice.
func TestChildWorkflows(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, env.HandleFunc("double", func(sc *engine.StepContext) (any, error) {
		var in struct{ N int }
		if err := sc.Input(&in); err != nil {
			return nil, err
		}
		return in.N * 2, nil
	}))
	must(t, env.Register(&engine.Template{Namespace: "kids", Name: "dag", Steps: []engine.StepTemplate{{Name: "double", Handler: "double"}}}))
	childRuns := 0
	must(t, engine.RegisterWorkflow(env.Engine, "kids/square", func(wctx *engine.WorkflowContext, n int) (int, error) {
		childRuns++
		if err := engine.Sleep(wctx, time.Hour); err != nil { // the parent waits through it
			return 0, err
		}
		return n * n, nil
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "kids/parent", func(wctx *engine.WorkflowContext, n int) (int, error) {
		sq, err := engine.Child[int](wctx, "kids/square", n)
		if err != nil {
			return 0, err
		}
		dag, err := engine.Child[map[string]int](wctx, "kids/dag", map[string]int{"N": n})
		if err != nil {
			return 0, err
		}
		return sq + dag["double"], nil
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "kids/parent", 5)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	got, err := h.Result(ctx)
	if err != nil || got != 25+10 {
		t.Fatalf("parent result %d, %v; want 35", got, err)
	}
	page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{ParentID: &h.TaskID})
	must(t, err)
	if len(page.Tasks) != 2 {
		t.Fatalf("parent has %d children, want 2", len(page.Tasks))
	}
	if childRuns < 2 {
		t.Fatalf("the child ran %d times; it sleeps, so it runs once before and once after", childRuns)
	}
	var kinds []string
	for _, s := range env.DurableSteps(h.TaskID) {
		kinds = append(kinds, s.Kind)
	}
	if len(kinds) != 2 || kinds[0] != "child" || kinds[1] != "child" {
		t.Fatalf("parent's durable steps %v", kinds)
	}
	testkit.Replay(t, env.Engine, h.TaskID) // the history replays without starting anything
	if page, _ := env.Store.ListTasks(ctx, &store.ListTasksParams{}); len(page.Tasks) != 3 {
		t.Fatalf("%d tasks after replay, want 3 (no child started twice)", len(page.Tasks))
	}
}

// A failed child is an error the parent can handle.
func TestChildFailureReachesParent(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "kids/broken", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.Step(wctx, "fail", func(context.Context) (int, error) { return 0, engine.Permanent(errors.New("no")) })
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "kids/careful", func(wctx *engine.WorkflowContext, _ int) (string, error) {
		_, err := engine.Child[int](wctx, "kids/broken", 1)
		var te *engine.TaskError
		if errors.As(err, &te) && te.State == store.TaskError && errors.Is(err, engine.ErrStepFailed) && te.Failure.Step == "fail" {
			return "compensated", nil
		}
		return "", err
	}))
	h, err := engine.StartWorkflow[int, string](ctx, env.Engine, "kids/careful", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != "compensated" {
		t.Fatalf("parent %q, %v", got, err)
	}
}

// Cancelling a parent cancels the child it waits for.
func TestCancelParentCancelsChildren(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "kids/waiter", func(wctx *engine.WorkflowContext, _ int) (string, error) {
		return engine.WaitEvent[string](wctx, "go", 72*time.Hour)
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "kids/boss", func(wctx *engine.WorkflowContext, _ int) (string, error) {
		return engine.Child[string](wctx, "kids/waiter", 1)
	}))
	h, err := engine.StartWorkflow[int, string](ctx, env.Engine, "kids/boss", 1)
	must(t, err)
	for range 3 { // parent starts the child, child suspends on its event
		_, err := env.RunOnce(ctx)
		must(t, err)
	}
	page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{ParentID: &h.TaskID})
	must(t, err)
	if len(page.Tasks) != 1 {
		t.Fatalf("%d children before cancel", len(page.Tasks))
	}
	must(t, env.Cancel(ctx, h.TaskID, "no longer needed"))
	if st := env.Task(page.Tasks[0].ID).Task.State; st != store.TaskCancelled {
		t.Fatalf("child is %s after its parent was cancelled", st)
	}
}

// A parent that returns its child's failure fails with the child's durable
// step named (its sequence is the child's, 3): Retry retries the parent's
// driver alone, neither naming a sequence the parent has no step at (the
// store refuses it) nor retrying the parent's own step at that sequence,
// a failure the parent handled.
func TestRetryParentFailedByChild(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "kids/third", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		for _, name := range []string{"one", "two"} {
			if _, err := engine.Step(wctx, name, func(context.Context) (int, error) { return 1, nil }); err != nil {
				return 0, err
			}
		}
		return engine.Step(wctx, "three", func(context.Context) (int, error) { return 0, engine.Permanent(errors.New("no")) })
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "kids/passes", func(wctx *engine.WorkflowContext, handled int) (int, error) {
		for i := range handled {
			_, err := engine.Step(wctx, fmt.Sprintf("handled%d", i), func(context.Context) (int, error) { return 0, engine.Permanent(errors.New("fine")) })
			if !errors.Is(err, engine.ErrStepFailed) {
				return 0, err
			}
		}
		return engine.Child[int](wctx, "kids/third", 1)
	}))
	for _, handled := range []int{0, 3} {
		h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "kids/passes", handled)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		var te *engine.TaskError
		if _, err := h.Result(ctx); !errors.As(err, &te) || te.State != store.TaskError {
			t.Fatalf("parent (%d handled): %v, want it failed", handled, err)
		}
		must(t, env.Retry(ctx, h.TaskID))
		d, err := env.Store.GetTask(ctx, h.TaskID)
		must(t, err)
		if d.Task.State != store.TaskPending {
			t.Fatalf("parent (%d handled) after Retry: %s, want pending", handled, d.Task.State)
		}
		for _, s := range d.Steps {
			if strings.HasPrefix(s.Name, "handled") && s.State != store.StepError {
				t.Fatalf("parent (%d handled) after Retry: its handled failure %s is %s, want error", handled, s.Name, s.State)
			}
		}
	}
}

// TestChildOfOtherTypesRefused: Child refuses, before the child starts, an
// input or a result type other than those the code-first child was
// registered with (ErrTypeMismatch's message, failing the parent), as
// StartWorkflow refuses them, and a result type that cannot hold a DAG
// child's results by step name. The child started and failed decoding its
// input, or ran to the end and the parent failed decoding its result.
func TestChildOfOtherTypesRefused(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	ran := 0
	must(t, env.HandleFunc("count", func(sc *engine.StepContext) (any, error) { ran++; return 1, nil }))
	must(t, env.Register(&engine.Template{Namespace: "kids", Name: "dag", Steps: []engine.StepTemplate{{Name: "count", Handler: "count"}}}))
	must(t, engine.RegisterWorkflow(env.Engine, "kids/typed", func(wctx *engine.WorkflowContext, in struct{ N int }) (string, error) {
		ran++
		return fmt.Sprint(in.N), nil
	}))
	for i, c := range []struct {
		child func(wctx *engine.WorkflowContext) error
		want  string
	}{
		{func(wctx *engine.WorkflowContext) error {
			_, err := engine.Child[string](wctx, "kids/typed", "seven")
			return err
		}, `engine.Child("kids/typed"): tasker: workflow type mismatch: its input type is struct { N int }, not string`},
		{func(wctx *engine.WorkflowContext) error {
			_, err := engine.Child[int](wctx, "kids/typed", struct{ N int }{7})
			return err
		}, `engine.Child("kids/typed"): tasker: workflow type mismatch: its result type is string, not int`},
		{func(wctx *engine.WorkflowContext) error {
			_, err := engine.Child[int](wctx, "kids/dag", nil)
			return err
		}, `engine.Child("kids/dag"): tasker: workflow type mismatch: a DAG child's result is its steps' results by step name (a JSON object), which int cannot hold`},
	} {
		name := fmt.Sprintf("kids/mistyped%d", i)
		must(t, engine.RegisterWorkflow(env.Engine, name, func(wctx *engine.WorkflowContext, _ int) (int, error) { return 0, c.child(wctx) }))
		h, err := engine.StartWorkflow[int, int](ctx, env.Engine, name, 1)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d: %v; want the parent failed saying %s", i, err, c.want)
		}
	}
	if ran != 0 {
		t.Fatalf("the child ran %d times; want it never started", ran)
	}
}
