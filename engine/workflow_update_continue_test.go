package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// An update sent to a run that continued as new before receiving it went
// with its other unread events to the next run, which answered it; Update
// read the answer of the first run only, and returned ErrUpdateUnanswered
// ("the workflow ended complete") when that run ended. It follows the
// chain now, to the run that holds the update. An update the run received
// and left unanswered before continuing is still ErrUpdateUnanswered (the
// next run will not receive it again).
func TestUpdateFollowsTheRunThatContinuesAsNew(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/moved", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in == 0 { // continues at once: the update goes to the next run
			return 0, engine.ContinueAsNew(wctx, 1)
		}
		req, err := engine.ReceiveUpdate[int](wctx, "bump", time.Hour)
		if err != nil {
			return 0, err
		}
		return req.Arg + 1, req.Reply(wctx, req.Arg+1, nil)
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/dropped", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in == 0 { // receives the update, answers nothing, continues
			if _, err := engine.ReceiveUpdate[int](wctx, "bump", time.Hour); err != nil {
				return 0, err
			}
			return 0, engine.ContinueAsNew(wctx, 1)
		}
		return 1, nil
	}))
	type answer struct {
		v   int
		err error
	}
	update := func(workflow string) (int64, answer) {
		h, err := engine.StartWorkflow[int, int](ctx, env.Engine, workflow, 0)
		must(t, err)
		got := make(chan answer, 1)
		go func() {
			v, err := engine.Update[int](ctx, env.Engine, h.TaskID, "bump", "u-1", 41)
			got <- answer{v, err}
		}()
		waitFor(t, "the update sent", func() bool {
			var n int
			must(t, env.Store.DB().NewRaw("SELECT count(*) FROM tasker_events WHERE task_id = ? AND name = 'update:bump'", h.TaskID).Scan(ctx, &n))
			return n == 1
		})
		env.RunUntilDone(h.TaskID)
		return h.TaskID, <-got
	}
	if _, a := update("t/moved"); a.err != nil || a.v != 42 {
		t.Errorf("the update moved to the next run: %d, %v; want its answer, 42", a.v, a.err)
	}
	// (Named by the run that received it, not followed to the next.)
	if id, a := update("t/dropped"); !errors.Is(a.err, engine.ErrUpdateUnanswered) || !strings.Contains(a.err.Error(), fmt.Sprintf("of task %d:", id)) {
		t.Errorf("the update received and not answered: %d, %v; want ErrUpdateUnanswered naming task %d", a.v, a.err, id)
	}
}
