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
)

// An update sent to a workflow in error is answered ErrUpdateUnanswered at
// once, saying why: the workflow failed, the update is kept, and a Retry
// of the task may answer it, which Update with the same id then returns.
// The error read "the workflow ended error", as if nothing could answer.
func TestUpdateOfAFailedWorkflowSaysARetryMayAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := newEngine(t, engine.Config{WorkerID: "w", Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	var down atomic.Bool
	down.Store(true)
	must(t, engine.RegisterWorkflow(e, "t/bumper", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		if down.Load() {
			return 0, engine.Permanent(errors.New("the service is down"))
		}
		req, err := engine.ReceiveUpdate[int](wctx, "bump", time.Hour)
		if err != nil {
			return 0, err
		}
		return 1, req.Reply(wctx, req.Arg+1, nil)
	}))
	h, err := engine.StartWorkflow[struct{}, int](ctx, e, "t/bumper", struct{}{})
	must(t, err)
	for range 5 {
		_, err := e.RunOnce(ctx)
		must(t, err)
	}
	d, err := e.Store().GetTask(ctx, h.TaskID)
	must(t, err)
	if d.Task.State != store.TaskError {
		t.Fatalf("the workflow is %s, want error", d.Task.State)
	}
	_, err = engine.Update[int](ctx, e, h.TaskID, "bump", "u1", 41)
	if !errors.Is(err, engine.ErrUpdateUnanswered) || !strings.Contains(err.Error(), "Retry") {
		t.Fatalf("Update of a workflow in error: %v; want ErrUpdateUnanswered saying a Retry may answer it", err)
	}
	down.Store(false)
	must(t, e.Retry(ctx, h.TaskID))
	run(t, e)
	v, err := engine.Update[int](ctx, e, h.TaskID, "bump", "u1", 41)
	if err != nil || v != 42 {
		t.Fatalf("Update again after the Retry: %d, %v; want 42, the retried run's answer", v, err)
	}
}
