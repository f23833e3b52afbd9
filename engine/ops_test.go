package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

func TestOperatorRetryAndResolve(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	fail := true
	must(t, env.HandleFunc("charge", func(*engine.StepContext) (any, error) {
		if fail {
			return nil, engine.Permanent(errors.New("declined"))
		}
		return "charged", nil
	}))
	must(t, env.HandleFunc("ship", func(sc *engine.StepContext) (any, error) { return engine.Result[string](sc, "charge") }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "ops", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "charge"}, {Name: "ship", Handler: "ship", DependsOn: []string{"charge"}}}}))
	ctx := context.Background()
	h, _ := env.Start(ctx, "t/ops", nil)
	env.RunUntilDone(h.TaskID)
	if env.Task(h.TaskID).Task.State != store.TaskError {
		t.Fatal("task did not fail")
	}
	fail = false
	must(t, env.Retry(ctx, h.TaskID))
	env.RunUntilDone(h.TaskID)
	if d := env.Task(h.TaskID); d.Task.State != store.TaskComplete || string(d.Step("ship").Results) != `"charged"` {
		t.Fatalf("after retry: %s %s", d.Task.State, d.Step("ship").Results)
	}
	if err := env.Retry(ctx, h.TaskID); !errors.Is(err, store.ErrIllegalTransition) {
		t.Fatalf("retrying a complete task: %v", err)
	}

	fail = true
	h2, _ := env.Start(ctx, "t/ops", map[string]int{"n": 2})
	env.RunUntilDone(h2.TaskID)
	must(t, env.Resolve(ctx, h2.TaskID, "charge", "paid by phone"))
	env.RunUntilDone(h2.TaskID)
	if d := env.Task(h2.TaskID); d.Task.State != store.TaskComplete || string(d.Step("ship").Results) != `"paid by phone"` {
		t.Fatalf("after resolve: %s %s", d.Task.State, d.Step("ship").Results)
	}
	if err := env.Resolve(ctx, h2.TaskID, "nope", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("resolving a missing step: %v", err)
	}
}

func TestCancelStopsRunningHandlers(t *testing.T) {
	e := newEngine(t, engine.Config{})
	entered := make(chan int64, 1)
	must(t, e.HandleFunc("block", func(sc *engine.StepContext) (any, error) {
		entered <- sc.TaskID
		<-sc.Done()
		return nil, sc.Err()
	}))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "cancel", Steps: []engine.StepTemplate{{Name: "a", Handler: "block"}, {Name: "b", Handler: "block", DependsOn: []string{"a"}}}}))
	events, unsubscribe := e.Subscribe(64)
	defer unsubscribe()
	run(t, e)
	ctx := context.Background()
	h, err := e.Start(ctx, "t/cancel", nil)
	must(t, err)
	<-entered
	must(t, e.Cancel(ctx, h.TaskID, "customer changed their mind"))
	out, err := h.Wait(ctx)
	must(t, err)
	if out.State != store.TaskCancelled {
		t.Fatalf("state %s", out.State)
	}
	d, _ := e.Store().GetTask(ctx, h.TaskID)
	for _, s := range d.Steps {
		if s.State != store.StepCancelled {
			t.Fatalf("step %s is %s", s.Name, s.State)
		}
	}
	for ev := range events {
		if ev.Name == engine.EventStepDiscarded && ev.TaskID == h.TaskID {
			break // the running handler saw the cancellation
		}
	}
}

// A task id no task can have (0, negative) is refused by every public
// method taking one as store.ErrInvalid naming it, not store.ErrNotFound.
func TestTaskIDsRefused(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	for _, id := range []int64{0, -1} {
		_, errWait := env.Wait(ctx, id)
		_, errExplain := env.Explain(ctx, id)
		_, errRuns := env.Runs(ctx, id)
		_, errHistory := env.WorkflowHistory(ctx, id)
		_, errQuery := engine.Query[int](ctx, env.Engine, id, "q")
		_, errUpdate := engine.Update[int](ctx, env.Engine, id, "u", "1", nil)
		_, errEvent := env.Engine.SendEvent(ctx, id, "e", "", nil)
		_, errResult := engine.GetWorkflow[int](env.Engine, id).Result(ctx)
		for name, err := range map[string]error{
			"Wait": errWait, "Cancel": env.Cancel(ctx, id, "r"), "Retry": env.Retry(ctx, id),
			"Resolve": env.Resolve(ctx, id, "s", nil), "Explain": errExplain, "Runs": errRuns,
			"WorkflowHistory": errHistory, "Replay": env.Replay(ctx, id), "Query": errQuery,
			"Update": errUpdate, "SendEvent": errEvent, "GetWorkflow(…).Result": errResult,
		} {
			want := fmt.Sprintf("task_id: must be a task id (1 or more), got %d", id)
			if !errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s(%d): error = %v; want ErrInvalid saying %q", name, id, err, want)
			}
		}
	}
}
