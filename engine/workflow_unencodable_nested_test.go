package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// hookJSON is a func type that encodes itself: JSON carries it.
type hookJSON func()

func (hookJSON) MarshalJSON() ([]byte, error) { return []byte(`"hook"`), nil }

// quiet is unexported: embedded, JSON skips it.
type quiet func()

// chain refers to itself: the check must end.
type chain struct {
	Next *chain
	N    int
}

// TestUnencodableFieldsRefusedBeforeAnythingRuns: a type JSON cannot carry
// was refused only at its top (a func input); one holding such a value —
// a struct's field, a slice's elements, a map's values or keys — was
// registered, and its workflow or durable step failed at encoding,
// "json: unsupported type", after its work was done. It is refused where
// it is given, naming the path to what cannot be carried; what JSON skips
// (unexported fields, json:"-", omitzero) or encodes itself is not.
func TestUnencodableFieldsRefusedBeforeAnythingRuns(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	type withHook struct {
		Name string
		Hook func()
	}
	err := engine.RegisterWorkflow(env.Engine, "t/hookin", func(*engine.WorkflowContext, withHook) (int, error) { return 0, nil })
	if want := "its input type engine_test.withHook cannot be carried as JSON: its .Hook is a func() (encoding/json refuses a func)"; !errors.Is(err, engine.ErrInvalidTemplate) || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("RegisterWorkflow with a func field in its input: %v, want %q", err, want)
	}
	err = engine.RegisterWorkflow(env.Engine, "t/chanout", func(*engine.WorkflowContext, int) ([]struct{ C chan int }, error) { return nil, nil })
	if want := "its [i].C is a chan int"; !errors.Is(err, engine.ErrInvalidTemplate) || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("RegisterWorkflow with a channel in its result's elements: %v, want %q", err, want)
	}
	err = engine.RegisterWorkflow(env.Engine, "t/floatkeys", func(*engine.WorkflowContext, map[float64]int) (int, error) { return 0, nil })
	if want := "its [key] is a float64 (encoding/json refuses a map key"; !errors.Is(err, engine.ErrInvalidTemplate) || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("RegisterWorkflow with float map keys: %v, want %q", err, want)
	}
	type carried struct {
		quiet
		hidden func()
		Skip   func()   `json:"-"`
		Zero   func()   `json:",omitzero"`
		Hook   hookJSON // encodes itself
		Chain  chain
		Keys   map[int]string
	}
	var c carried
	_, _ = c.quiet, c.hidden // (JSON skips them)
	must(t, engine.RegisterWorkflow(env.Engine, "t/carried", func(*engine.WorkflowContext, carried) (carried, error) { return carried{}, nil }))

	ran := false
	must(t, engine.RegisterWorkflow(env.Engine, "t/stepfield", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		_, err := engine.Step(wctx, "s", func(context.Context) (map[string]withHook, error) { ran = true; return nil, nil })
		return 0, err
	}))
	h, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "t/stepfield", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(context.Background())
	var te *engine.TaskError
	if ran || !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent ||
		!strings.Contains(err.Error(), "durable step s: its result type map[string]engine_test.withHook cannot be carried as JSON: its [k].Hook is a func()") {
		t.Fatalf("step function ran: %v; result error %v; want the task failed before it ran, naming the field", ran, err)
	}
}
