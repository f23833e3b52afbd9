package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// Query[T] and Update[R] decoded what the workflow published (its query
// state, its answer) into any type: JSON ignores the fields the type
// lacks, so asking with the wrong type read its zero value and no error.
// A field the type does not have is now ErrTypeMismatch, naming the
// workflow, the query or update, the type and the field; the right type
// and a map still read it.
func TestQueryAndUpdateRefuseAResultOfAnotherType(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/shop", func(wctx *engine.WorkflowContext, id int) (int, error) {
		if err := engine.SetQueryState(wctx, "order", order{ID: id, Total: 42}); err != nil {
			return 0, err
		}
		req, err := engine.ReceiveUpdate[int](wctx, "pay", time.Hour)
		if err != nil {
			return 0, err
		}
		return id, req.Reply(wctx, order{ID: id, Total: 42 - req.Arg}, nil)
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/shop", 7)
	must(t, err)
	type answer struct {
		v   order
		err error
	}
	paid := make(chan answer, 1)
	go func() {
		v, err := engine.Update[order](ctx, env.Engine, h.TaskID, "pay", "p1", 2)
		paid <- answer{v, err}
	}()
	env.RunUntilDone(h.TaskID)
	if got := <-paid; got.err != nil || got.v != (order{ID: 7, Total: 40}) {
		t.Fatalf("the update with its own type: %+v, %v", got.v, got.err)
	}

	_, err = engine.Query[invoice](ctx, env.Engine, h.TaskID, "order")
	if !errors.Is(err, engine.ErrTypeMismatch) || !strings.Contains(err.Error(), "workflow t/shop") || !strings.Contains(err.Error(), `"order"`) ||
		!strings.Contains(err.Error(), "engine_test.invoice") || !strings.Contains(err.Error(), `"id"`) {
		t.Errorf("an order queried as an invoice: %v; want ErrTypeMismatch naming t/shop, the query, the type and the field", err)
	}
	if v, err := engine.Query[order](ctx, env.Engine, h.TaskID, "order"); err != nil || v != (order{ID: 7, Total: 42}) {
		t.Errorf("the query with its own type: %+v, %v", v, err)
	}
	if v, err := engine.Query[map[string]int](ctx, env.Engine, h.TaskID, "order"); err != nil || v["total"] != 42 {
		t.Errorf("the query as a map: %v, %v", v, err)
	}

	_, err = engine.Update[invoice](ctx, env.Engine, h.TaskID, "pay", "p1", 2)
	if !errors.Is(err, engine.ErrTypeMismatch) || !strings.Contains(err.Error(), "workflow t/shop") || !strings.Contains(err.Error(), "update pay") ||
		!strings.Contains(err.Error(), "engine_test.invoice") || !strings.Contains(err.Error(), `"id"`) {
		t.Errorf("an answer read as an invoice: %v; want ErrTypeMismatch naming t/shop, the update, the type and the field", err)
	}
	if v, err := engine.Update[map[string]int](ctx, env.Engine, h.TaskID, "pay", "p1", 2); err != nil || v["total"] != 40 {
		t.Errorf("the answer as a map: %v, %v", v, err)
	}
}
