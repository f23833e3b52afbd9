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

// Cancel of a run that continued as new (the task StartWorkflow returned,
// say) is refused, forced or not, naming the run that continues it and the
// chain's last run, where the workflow goes on: unforced it said "only an
// operator may force it", and forced it cancelled the finished run while
// the workflow went on running in the next one. Nothing changes.
func TestCancelOfAContinuedRunNamesTheLastRun(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/cancel-loop", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in < 2 {
			return 0, engine.ContinueAsNew(wctx, in+1)
		}
		return engine.WaitEvent[int](wctx, "stop", time.Hour)
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/cancel-loop", 0)
	must(t, err)
	env.RunFor(time.Minute) // the third run waits for its event
	var chain []int64
	for id := h.TaskID; id != 0 && len(chain) < 4; {
		chain = append(chain, id)
		runs, err := env.Engine.Runs(ctx, id)
		must(t, err)
		id = runs.ContinuedAs
	}
	if len(chain) != 3 {
		t.Fatalf("chain = %v, want three runs", chain)
	}
	last := chain[2]
	for _, opts := range [][]engine.CancelOption{nil, {engine.Force()}} {
		err := env.Engine.Cancel(ctx, h.TaskID, "stop", opts...)
		want := fmt.Sprintf("it continued as new as task %d; the workflow goes on in the chain's last run, task %d: cancel that one", chain[1], last)
		if !errors.Is(err, engine.ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Cancel(%d, %d options) = %v; want ErrRefused saying %q", h.TaskID, len(opts), err, want)
		}
	}
	for i, id := range chain {
		want := store.TaskComplete
		if i == 2 {
			want = store.TaskInProgress
		}
		if got := env.Task(id).Task.State; got != want {
			t.Fatalf("run %d (task %d) is %s after the refused cancels, want %s", i, id, got, want)
		}
	}
	must(t, env.Engine.Cancel(ctx, last, "stop"))
	if _, err := h.Result(ctx); !errors.Is(err, engine.ErrCancelled) {
		t.Fatalf("result after cancelling the last run: %v, want ErrCancelled", err)
	}
}
