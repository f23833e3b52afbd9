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

// Events a run accepted and did not read go on to the run that continues
// it: a loop that reads one tick and continues as new read the first of
// two ticks sent before it ran; the second stayed on the first run, which
// no wait reads any more, and the next run timed out waiting for it
// (SendEvent promises an event is kept for a later wait).
func TestEventsNotReadMoveToTheNextRun(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/ticks", func(wctx *engine.WorkflowContext, seen int) (int, error) {
		tick, err := engine.WaitEvent[int](wctx, "tick", time.Hour)
		if err != nil {
			return seen, err
		}
		if seen+tick < 3 {
			return 0, engine.ContinueAsNew(wctx, seen+tick)
		}
		return seen + tick, nil
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/ticks", 0)
	must(t, err)
	for _, k := range []string{"a", "b", "c"} {
		if !env.SendEvent(h.TaskID, "tick", k, 1) {
			t.Fatalf("tick %s was not new", k)
		}
	}
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != 3 {
		t.Fatalf("result %d, %v; want the three ticks read, one per run", got, err)
	}
	// Each run read one; none is left behind on a run that will not read it.
	runs, id := 0, h.TaskID
	for id != 0 {
		runs++
		r, err := env.Runs(ctx, id)
		must(t, err)
		id = r.ContinuedAs
	}
	if runs != 3 {
		t.Fatalf("%d runs, want 3", runs)
	}
}

// An event sent to a run after its next run exists but before it has
// finished (here from the run itself, between ContinueAsNew and its
// return) is refused naming the next run, as for a run that has finished:
// the run's unread events have moved already, and one recorded after
// would stay behind.
func TestEventToARunContinuingNamesTheNextRun(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	var sendErr error
	must(t, engine.RegisterWorkflow(env.Engine, "t/window", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in == 1 {
			return engine.WaitEvent[int](wctx, "go", time.Hour)
		}
		err := engine.ContinueAsNew(wctx, 1)
		_, sendErr = env.Engine.SendEvent(context.Background(), wctx.TaskID, "go", "late", 5)
		return 0, err
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/window", 0)
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := env.Runs(ctx, h.TaskID)
	must(t, err)
	want := fmt.Sprintf("task %d continued as new as task %d", h.TaskID, r.ContinuedAs)
	if !errors.Is(sendErr, engine.ErrEventRefused) || !strings.Contains(sendErr.Error(), want) {
		t.Fatalf("SendEvent to the continuing run: %v; want ErrEventRefused saying %s", sendErr, want)
	}
	if _, err := env.Engine.SendEvent(ctx, r.ContinuedAs, "go", "late", 5); err != nil {
		t.Fatalf("SendEvent to the next run: %v", err)
	}
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != 5 {
		t.Fatalf("result %d, %v; want the event sent to the next run", got, err)
	}
}
