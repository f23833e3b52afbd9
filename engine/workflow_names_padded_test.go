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

// A name with spaces around it that a running workflow gives an operation
// it records for the first time (a durable step, a future, an event or
// update it waits for or selects, a change id, a child workflow) or a
// query state it publishes fails the workflow at that call, naming the
// name, as registration refuses such names: " approval" was waited for and
// no `tasker events send approval` (which refuses " approval") could reach
// it, and a step " charge" could not be told from "charge" in a listing.
func TestPaddedWorkflowNamesFailTheWorkflow(t *testing.T) {
	noop := func(context.Context) (int, error) { return 1, nil }
	for _, c := range []struct {
		name string
		fn   func(wctx *engine.WorkflowContext) error
		want string
	}{
		{"step", func(wctx *engine.WorkflowContext) error {
			_, err := engine.Step(wctx, " charge", noop)
			return err
		}, `durable step name " charge" has spaces around it: write "charge"`},
		{"future", func(wctx *engine.WorkflowContext) error {
			_, err := engine.Go(wctx, "charge\t", noop).Get()
			return err
		}, `durable step name "charge\t" has spaces around it: write "charge"`},
		{"blank step", func(wctx *engine.WorkflowContext) error {
			_, err := engine.Step(wctx, "  ", noop)
			return err
		}, `durable step name "  " is blank`},
		{"event", func(wctx *engine.WorkflowContext) error {
			_, err := engine.WaitEvent[int](wctx, " approval", time.Hour)
			return err
		}, `event name " approval" has spaces around it: write "approval"`},
		{"update", func(wctx *engine.WorkflowContext) error {
			_, err := engine.ReceiveUpdate[int](wctx, "set ", time.Hour)
			return err
		}, `update name "set " has spaces around it: write "set"`},
		{"selected event", func(wctx *engine.WorkflowContext) error {
			_, err := engine.Select(wctx, engine.OnEvent[int](" approval", nil), engine.OnTimer(engine.NewTimer(wctx, time.Hour)))
			return err
		}, `event name " approval" has spaces around it: write "approval"`},
		{"selected update", func(wctx *engine.WorkflowContext) error {
			var req *engine.UpdateRequest[int]
			_, err := engine.Select(wctx, engine.OnUpdate(" set", &req), engine.OnTimer(engine.NewTimer(wctx, time.Hour)))
			return err
		}, `update name " set" has spaces around it: write "set"`},
		{"change id", func(wctx *engine.WorkflowContext) error {
			engine.Version(wctx, "new-fee ", engine.DefaultVersion, 1)
			_, err := engine.Step(wctx, "after", noop)
			return err
		}, `change id "new-fee " has spaces around it: write "new-fee"`},
		{"query state", func(wctx *engine.WorkflowContext) error {
			return engine.SetQueryState(wctx, " status", 1)
		}, `query state name " status" has spaces around it: write "status"`},
		{"child", func(wctx *engine.WorkflowContext) error {
			_, err := engine.Child[int](wctx, " t/child", 1)
			return err
		}, `workflow name " t/child" has spaces around it: write "t/child"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := testkit.NewEngine(t, nil)
			ctx := context.Background()
			must(t, engine.RegisterWorkflow(env.Engine, "t/child", func(_ *engine.WorkflowContext, in int) (int, error) { return in, nil }))
			must(t, engine.RegisterWorkflow(env.Engine, "t/names", func(wctx *engine.WorkflowContext, _ int) (int, error) {
				return 0, c.fn(wctx)
			}))
			h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/names", 1)
			must(t, err)
			env.RunUntilDone(h.TaskID)
			_, err = h.Result(ctx)
			var te *engine.TaskError
			if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("result error %v; want the workflow failed at once saying %q", err, c.want)
			}
			for _, s := range env.DurableSteps(h.TaskID) {
				if s.Kind != "timer" { // (the select's timer comes first)
					t.Fatalf("durable step recorded: %v", s)
				}
			}
			if page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{}); err != nil || len(page.Tasks) != 1 {
				t.Fatalf("tasks: %v, %v; want the workflow's alone (no child started)", page, err)
			}
		})
	}
}

// A history recorded before padded names were refused (by an older
// version, its steps named " charge" and so on) replays as it was: the
// name is refused only when an operation is recorded for the first time,
// so a deploy does not fail the tasks in flight at a step they have
// passed.
func TestPaddedNamesRecordedBeforeReplay(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	step, change := "charge", "new-fee"
	charged := 0
	must(t, engine.RegisterWorkflow(env.Engine, "t/old", func(wctx *engine.WorkflowContext, in int) (int, error) {
		v, err := engine.Step(wctx, step, func(context.Context) (int, error) { charged++; return in * 10, nil })
		if err != nil {
			return 0, err
		}
		v += engine.Version(wctx, change, engine.DefaultVersion, 1)
		if err := engine.Sleep(wctx, time.Hour); err != nil {
			return 0, err
		}
		return v, nil
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/old", 4)
	must(t, err)
	env.RunFor(time.Minute)
	if got := env.DurableSteps(h.TaskID); len(got) != 3 {
		t.Fatalf("durable steps %v; want the step, the version and the sleep recorded", got)
	}
	// As an older version recorded them.
	res, err := env.Store.DB().ExecContext(ctx, `UPDATE tasker_steps SET name = ' ' || name WHERE task_id = ? AND sequence IN (1, 2)`, h.TaskID)
	must(t, err)
	if n, err := res.RowsAffected(); err != nil || n != 2 {
		t.Fatalf("renamed %d rows (%v), want 2", n, err)
	}
	step, change = " charge", " new-fee"
	env.RunUntilDone(h.TaskID)
	got, err := h.Result(ctx)
	if err != nil || got != 41 || charged != 1 {
		t.Fatalf("result %d, %v, step ran %d times; want 41 replayed from the recorded step and version, the step run once", got, err, charged)
	}
}
