package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

type order struct {
	ID    int `json:"id"`
	Total int `json:"total"`
}

type invoice struct {
	Number string `json:"number"`
	Paid   bool   `json:"paid"`
}

// GetWorkflow[O] in a process that does not register the workflow (an API
// that reads results a worker computed) decoded the result into any O:
// JSON ignores the fields O lacks, so a wrong type read as O's zero value,
// and no error. A result with a field O does not have is ErrTypeMismatch
// there, naming the workflow and the type; the right type, a map, and a
// reader with the worker's codec still read it.
func TestWorkflowResultOfAnUnregisteredWorkflowIsDecodedStrictly(t *testing.T) {
	codec := &xorCodec{name: "xor/v1"}
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Codec: codec}})
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/order", func(_ *engine.WorkflowContext, id int) (order, error) {
		return order{ID: id, Total: 42}, nil
	}))
	h, err := engine.StartWorkflow[int, order](ctx, env.Engine, "t/order", 7)
	must(t, err)
	env.RunUntilDone(h.TaskID)

	api := newEngine(t, engine.Config{Store: env.Store, Codec: codec}) // registers nothing
	_, err = engine.GetWorkflow[invoice](api, h.TaskID).Result(ctx)
	if !errors.Is(err, engine.ErrTypeMismatch) || !strings.Contains(err.Error(), "workflow t/order") ||
		!strings.Contains(err.Error(), "engine_test.invoice") || !strings.Contains(err.Error(), `"id"`) {
		t.Errorf("an order read as an invoice: %v; want ErrTypeMismatch naming t/order, the type and the field", err)
	}
	_, err = engine.GetWorkflow[string](api, h.TaskID).Result(ctx)
	if !errors.Is(err, engine.ErrTypeMismatch) || !strings.Contains(err.Error(), "workflow t/order") {
		t.Errorf("an order read as a string: %v; want ErrTypeMismatch naming t/order", err)
	}
	if v, err := engine.GetWorkflow[order](api, h.TaskID).Result(ctx); err != nil || v != (order{ID: 7, Total: 42}) {
		t.Errorf("the workflow's own type: %+v, %v", v, err)
	}
	if v, err := engine.GetWorkflow[map[string]int](api, h.TaskID).Result(ctx); err != nil || v["total"] != 42 {
		t.Errorf("a map: %v, %v", v, err)
	}
}
