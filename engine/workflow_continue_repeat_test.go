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

// SendEvent promises a repeat of an event a task received is not refused,
// so a sender whose reply was lost can send again. An event moved, unread,
// to the run that continued the task (ContinueAsNew) was refused when sent
// again to the first run ("continued as new"), and the sender could not
// tell it had arrived. The repeat is now found along the chain and reports
// not new; a new event to that run is still refused, naming the next run,
// and neither leaves a row behind.
func TestRepeatOfAnEventMovedToTheNextRunIsNotRefused(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/later", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in < 2 { // the tick moves on, twice
			return 0, engine.ContinueAsNew(wctx, in+1)
		}
		return engine.WaitEvent[int](wctx, "tick", time.Hour)
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/later", 0)
	must(t, err)
	if !env.SendEvent(h.TaskID, "tick", "k", 5) {
		t.Fatal("the first send was not new")
	}
	env.RunUntilDone(h.TaskID)
	if v, err := h.Result(ctx); err != nil || v != 5 {
		t.Fatalf("result %d, %v; want the tick read by the last run", v, err)
	}
	created, err := env.Engine.SendEvent(ctx, h.TaskID, "tick", "k", 5)
	if err != nil || created {
		t.Errorf("the repeat to the first run: new %v, %v; want not new and no error", created, err)
	}
	r, err := env.Runs(ctx, h.TaskID)
	must(t, err)
	_, err = env.Engine.SendEvent(ctx, h.TaskID, "tick", "k2", 6)
	if want := fmt.Sprintf("task %d continued as new as task %d", h.TaskID, r.ContinuedAs); !errors.Is(err, engine.ErrEventRefused) || !strings.Contains(err.Error(), want) {
		t.Errorf("a new event to the first run: %v; want ErrEventRefused saying %s", err, want)
	}
	var n int
	must(t, env.Store.DB().NewRaw("SELECT count(*) FROM tasker_events WHERE name = 'tick'").Scan(ctx, &n))
	if n != 1 {
		t.Errorf("%d tick rows, want the one sent first", n)
	}
}
