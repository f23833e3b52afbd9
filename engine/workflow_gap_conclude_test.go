package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A workflow resumed by code that returns where its history goes on past
// a gap (a Go future that took its sequence number and suspended before it
// recorded anything; here its row is deleted to make one) fails as not
// deterministic naming the next recorded operation, as Replay does: it
// named the gap, "sequence 1 ... step \"\"", an operation of no name.
func TestWorkflowReturningBeforeAGapNamesTheNextRecorded(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	var early atomic.Bool
	must(t, engine.RegisterWorkflow(env.Engine, "t/gap-live", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if early.Load() { // the code deployed since returns at once
			return 0, nil
		}
		a := engine.Go(wctx, "a", func(ctx context.Context) (int, error) { return 1, nil })
		b := engine.Go(wctx, "b", func(ctx context.Context) (int, error) { return 2, nil })
		if _, err := engine.All(a, b); err != nil {
			return 0, err
		}
		return 3, engine.Sleep(wctx, time.Hour)
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/gap-live", 1)
	must(t, err)
	env.RunFor(time.Minute) // to the sleep
	if _, err := env.Store.DB().NewDelete().Model((*store.Step)(nil)).Where("task_id = ? AND name = ?", h.TaskID, "a#1").Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if got := describeDurable(env.DurableSteps(h.TaskID)); strings.Join(got, "|") != "2 step b complete 1|3 sleep sleep pending 0" {
		t.Fatalf("durable steps with the gap: %q", got)
	}
	early.Store(true)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(ctx)
	want := `the code returned before sequence 2, where the history records step "b"`
	if !errors.Is(err, engine.ErrNonDeterministic) || !strings.Contains(err.Error(), want) {
		t.Fatalf("result = %v; want ErrNonDeterministic saying %q", err, want)
	}
}
