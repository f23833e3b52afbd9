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

// Cancel refuses a task in error, with Force too (error → cancelled is no
// move of the task machine), saying what an operator can do instead; it
// said only "not a legal move", though Force withdraws other finished
// tasks.
func TestCancelOfATaskInErrorSaysWhatToDo(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	oneStep(t, env.Engine, "fails", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("no")) }, engine.StepTemplate{})
	id := mustStart(t, env.Engine, "t/fails", nil)
	env.RunUntilDone(id)
	for _, opts := range [][]engine.CancelOption{nil, {engine.Force()}} {
		err := env.Cancel(ctx, id, "withdraw", opts...)
		if !errors.Is(err, store.ErrIllegalTransition) || !strings.Contains(err.Error(), "retried") || !strings.Contains(err.Error(), "resolved") {
			t.Fatalf("Cancel of a task in error (%d options): %v, want ErrIllegalTransition saying it is retried or resolved", len(opts), err)
		}
	}
	if st := env.Task(id).Task.State; st != store.TaskError {
		t.Fatalf("refused cancels left the task %s", st)
	}
}
