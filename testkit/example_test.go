package testkit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// exampleT stands in for the *testing.T an Example does not have: a
// failure panics, and cleanups run when the example calls cleanup.
type exampleT struct {
	testing.TB // nil: calling anything not overridden below panics
	cleanups   []func()
}

func (t *exampleT) Helper()                         {}
func (t *exampleT) Name() string                    { return "Example" }
func (t *exampleT) Cleanup(f func())                { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Logf(format string, args ...any) {}
func (t *exampleT) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
func (t *exampleT) Fatal(args ...any)        { panic(fmt.Sprint(args...)) }
func (t *exampleT) Context() context.Context { return context.Background() }
func (t *exampleT) TempDir() string {
	dir, err := os.MkdirTemp("", "testkit-example")
	if err != nil {
		panic(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *exampleT) cleanup() {
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
}

type orderIn struct {
	OrderID int `json:"order_id"`
}

var errFlaky = errors.New("payment provider timed out")

// charge is a step handler under test.
func chargeOrder(sc *engine.StepContext) (any, error) {
	var in orderIn
	if err := sc.Input(&in); err != nil {
		return nil, err
	}
	return map[string]string{"charge": fmt.Sprintf("ch_%d", in.OrderID)}, nil
}

var charge = engine.HandlerFunc(chargeOrder)

var tmpl = &engine.Template{Namespace: "shop", Name: "order", Steps: []engine.StepTemplate{
	{Name: "charge", Handler: "shop.charge", RetryLimit: 3},
}}

// testRetriedCharge is the README's testkit example, verbatim
// (internal/readmetest checks that they match): in your code it is the
// body of a func TestXxx(t *testing.T).
func testRetriedCharge(t testing.TB) {
	ctx := context.Background()
	input := orderIn{OrderID: 42}
	env := testkit.NewEngine(t, nil) // in-memory SQLite and a fake clock
	// The charge's first attempt fails; its retry succeeds.
	if err := env.Handle("shop.charge", testkit.FailOnAttempts(charge, errFlaky, 1)); err != nil {
		t.Fatal(err)
	}
	if err := env.Register(tmpl); err != nil {
		t.Fatal(err)
	}
	h, err := env.Start(ctx, "shop/order", input)
	if err != nil {
		t.Fatal(err)
	}
	env.RunUntilDone(h.TaskID) // backoffs elapse by moving the clock
	env.AssertStepHistory(h.TaskID, "charge",
		"pending → in_progress", "in_progress → pending", "pending → in_progress", "in_progress → complete")

	// One handler, no workflow: a real StepContext, the result decoded.
	got, err := testkit.RunStepAs[map[string]string](t, charge, input, nil, nil)
	if err != nil || got["charge"] != "ch_42" {
		t.Fatalf("charge = %v, %v", got, err)
	}
}

// NewEngine runs whole workflows on a fake clock; RunStep runs one handler.
// In a test, t is the test's *testing.T.
func Example() {
	t := &exampleT{}
	defer t.cleanup()
	testRetriedCharge(t)
	fmt.Println("ok")
	// Output: ok
}

// RunStep gives a handler its input and its dependencies' results, as the
// engine would, and returns what it returned; a panic is an error.
func ExampleRunStep() {
	t := &exampleT{}
	defer t.cleanup()
	ship := engine.HandlerFunc(func(sc *engine.StepContext) (any, error) {
		c, err := engine.Result[map[string]string](sc, "charge")
		if err != nil {
			return nil, err
		}
		return fmt.Sprintf("%s shipped after %s (attempt %d, key %s)", sc.Step, c["charge"], sc.Attempt, sc.IdempotencyKey), nil
	})
	res, err := testkit.RunStep(t, ship, orderIn{OrderID: 42}, map[string]any{"charge": map[string]string{"charge": "ch_42"}},
		&testkit.StepOptions{Step: "ship", TaskID: 7, Attempt: 2})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Value)
	// Output: ship shipped after ch_42 (attempt 2, key 7:ship)
}
