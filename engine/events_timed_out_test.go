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

// A new event for a workflow that failed its WithWorkflowTimeout is
// refused (ErrEventRefused), as one for a finished task is: its deadline
// has passed, Retry refuses it, and no run will ever read the event, which
// SendEvent recorded and reported as new. Nothing is recorded; a repeat of
// an event sent before still reports a duplicate.
func TestSendEventToATimedOutWorkflowIsRefused(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/timed-out", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.WaitEvent[int](wctx, "late", 2*time.Hour)
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/timed-out", 1, engine.WithWorkflowTimeout(time.Hour))
	must(t, err)
	env.RunFor(time.Minute)
	if !env.SendEvent(h.TaskID, "early", "k", 1) { // not waited for: kept, unread
		t.Fatal("an event before the deadline was refused")
	}
	env.RunUntilDone(h.TaskID)
	if _, err := h.Result(ctx); !errors.Is(err, engine.ErrWorkflowTimeout) {
		t.Fatalf("result: %v, want ErrWorkflowTimeout", err)
	}
	countEvents := func() int64 {
		n, err := env.Store.DB().NewSelect().Model((*store.Event)(nil)).Where("task_id = ?", h.TaskID).Count(ctx)
		must(t, err)
		return n
	}
	before := countEvents()
	created, err := env.Engine.SendEvent(ctx, h.TaskID, "late", "k", 2)
	if created || !errors.Is(err, engine.ErrEventRefused) || !strings.Contains(err.Error(), "failed its WithWorkflowTimeout") {
		t.Fatalf("SendEvent to a timed-out workflow = %v, %v; want ErrEventRefused naming the timeout", created, err)
	}
	if n := countEvents(); n != before {
		t.Fatalf("the refused event was recorded: %d events, was %d", n, before)
	}
	if created, err := env.Engine.SendEvent(ctx, h.TaskID, "early", "k", 1); created || err != nil {
		t.Fatalf("a repeat of an event sent before = %v, %v; want a duplicate", created, err)
	}
}
