package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// Child with an empty workflow name fails the workflow naming the
// workflow name, and starts nothing: it said "durable step name is
// required", a name the caller never gave.
func TestChildOfAnEmptyNameSaysSo(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/orphan", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.Child[int](wctx, "", in)
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/orphan", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(ctx)
	if want := `engine.Child: the workflow name is empty`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Child(\"\") = %v; want it to say %q", err, want)
	}
	page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{Limit: 10})
	must(t, err)
	if len(page.Tasks) != 1 {
		t.Fatalf("%d tasks after Child(\"\"), want the parent alone", len(page.Tasks))
	}
}
