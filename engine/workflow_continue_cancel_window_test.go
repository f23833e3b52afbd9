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

// Cancel of a run whose next run exists but which has not ended yet
// (ContinueAsNew has returned in it) is refused as for a run that has
// ended continued, naming the next run and the chain's last: it cancelled
// the run, the workflow went on in the next one, and the run's handle
// reported it cancelled.
func TestCancelOfARunContinuingNamesTheNextRun(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	ctx := context.Background()
	var cancelErr error
	must(t, engine.RegisterWorkflow(env.Engine, "t/goes-on", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in == 1 {
			return engine.WaitEvent[int](wctx, "go", time.Hour)
		}
		err := engine.ContinueAsNew(wctx, 1)
		cancelErr = env.Engine.Cancel(context.Background(), wctx.TaskID, "stop")
		return 0, err
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/goes-on", 0)
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := env.Runs(ctx, h.TaskID)
	must(t, err)
	want := fmt.Sprintf("continued as new as task %d; the workflow goes on in the chain's last run, task %d", r.ContinuedAs, r.Last)
	if !errors.Is(cancelErr, engine.ErrRefused) || !strings.Contains(cancelErr.Error(), want) {
		t.Fatalf("Cancel of the continuing run: %v; want ErrRefused saying %s", cancelErr, want)
	}
	d, err := env.Store.GetTask(ctx, h.TaskID)
	must(t, err)
	if d.Task.State != store.TaskComplete {
		t.Fatalf("the first run is %s, want complete (continued)", d.Task.State)
	}
}
