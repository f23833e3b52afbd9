package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// The refusal to resolve a failed code-first workflow's driver points to
// what can be done with a task in error (resolve a durable step, then
// Retry; or Retry), not to Cancel, which refuses a task in error.
func TestResolveOfAFailedDriverAdvisesWhatWorks(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/fails", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return 0, engine.Permanent(errors.New("no"))
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/fails", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if st := env.Task(h.TaskID).Task.State; st != store.TaskError {
		t.Fatalf("task %s, want error", st)
	}
	err = env.Resolve(ctx, h.TaskID, engine.DriverStep, 5)
	if !errors.Is(err, engine.ErrRefused) || strings.Contains(err.Error(), "Cancel") || !strings.Contains(err.Error(), "Retry") {
		t.Fatalf("Resolve of a failed driver: %v, want ErrRefused pointing to Retry and not to Cancel", err)
	}
	if err := env.Cancel(ctx, h.TaskID, "as advised"); !errors.Is(err, store.ErrIllegalTransition) {
		t.Fatalf("Cancel of a task in error: %v; the advice above assumes it is refused", err)
	}
}
