package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// TestWorkflowResultRefusesADAGTaskAndAnotherType: GetWorkflow[O] of a
// DAG task's id returned O's zero value and no error, and a result type
// other than the workflow's decoded whatever JSON allowed (an int workflow
// read as float64). Both are ErrTypeMismatch, naming the task and the
// types; the right type still reads the result.
func TestWorkflowResultRefusesADAGTaskAndAnotherType(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return 7, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/code", func(_ *engine.WorkflowContext, in int) (int, error) { return in, nil }))
	h, err := env.Start(ctx, "t/dag", nil)
	must(t, err)
	w, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/code", 5)
	must(t, err)
	env.RunUntilDone(h.TaskID, w.TaskID)

	_, err = engine.GetWorkflow[int](env.Engine, h.TaskID).Result(ctx)
	if !errors.Is(err, engine.ErrTypeMismatch) || !strings.Contains(err.Error(), "task of the DAG template t/dag, not a code-first workflow") {
		t.Errorf("a DAG task read as a workflow: %v", err)
	}
	_, err = engine.GetWorkflow[float64](env.Engine, w.TaskID).Result(ctx)
	if !errors.Is(err, engine.ErrTypeMismatch) || !strings.Contains(err.Error(), "workflow t/code returns int, not float64") {
		t.Errorf("an int workflow read as float64: %v", err)
	}
	if v, err := engine.GetWorkflow[int](env.Engine, w.TaskID).Result(ctx); err != nil || v != 5 {
		t.Errorf("the workflow's own type: %v, %v", v, err)
	}
}
