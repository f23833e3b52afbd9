package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A step's backoff Base, its Max left to the engine's Config.Retry.Max,
// above that max is refused naming the step, the base and the max: the
// template's at Register, a durable step's WithStepBackoff by failing the
// workflow before the step runs. Before, retry.Policy.Ceiling capped every
// delay at the engine's max without a word, the Base given doing nothing
// (retry.Policy.Validate caught it only against DefaultMax).
func TestStepBackoffBaseAboveTheEnginesMaxRefused(t *testing.T) {
	cfg := engine.Config{Retry: retry.Policy{Base: 100 * time.Millisecond, Max: 10 * time.Second}}
	env := testkit.NewEngine(t, &testkit.Options{Config: cfg})
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return 1, nil }))
	err := env.Register(&engine.Template{Namespace: "t", Name: "slow", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "h", Backoff: retry.Policy{Base: time.Minute}}}})
	want := `steps[0].retry.base: step "charge": retry base 1m0s is above the engine's retry max 10s (Config.Retry.Max), which would cap every delay: set max too`
	if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Register = %v; want ErrInvalidTemplate containing %q", err, want)
	}
	if tpl := env.Templates(); len(tpl) != 0 {
		t.Fatalf("the refused template was registered: %v", tpl)
	}
	// With a Max of its own, or a Base under the engine's max, it stands.
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "own", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "h", Backoff: retry.Policy{Base: time.Minute, Max: 2 * time.Minute}},
		{Name: "ship", Handler: "h", Backoff: retry.Policy{Base: 5 * time.Second}}}}))

	ran := false
	must(t, engine.RegisterWorkflow(env.Engine, "t/dur", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.Step(wctx, "s", func(context.Context) (int, error) { ran = true; return 1, nil },
			engine.WithStepBackoff(retry.Policy{Base: time.Minute}))
	}))
	h, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "t/dur", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(context.Background())
	var te *engine.TaskError
	want = "WithStepBackoff: retry base 1m0s is above the engine's retry max 10s (Config.Retry.Max), which would cap every delay: set max too"
	if !errors.As(err, &te) || te.State != store.TaskError || !strings.Contains(err.Error(), want) {
		t.Fatalf("result error %v; want the task failed naming %q", err, want)
	}
	if ran {
		t.Fatal("the step ran")
	}
}

// A step's Base is weighed against the max it gets, the engine's: under
// an engine whose Config.Retry.Max is an hour, a Base of ten minutes with
// no Max of its own stands (it was refused as "above the default max 5m",
// a max that engine never uses), and under the default max it is refused
// naming that max.
func TestStepBackoffBaseWeighedAgainstTheEnginesOwnMax(t *testing.T) {
	long := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Retry: retry.Policy{Base: time.Second, Max: time.Hour}}})
	must(t, long.HandleFunc("h", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, long.Register(&engine.Template{Namespace: "t", Name: "slow", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "h", Backoff: retry.Policy{Base: 10 * time.Minute}}}}))
	must(t, engine.RegisterWorkflow(long.Engine, "t/dur", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.Step(wctx, "s", func(context.Context) (int, error) { return 1, nil },
			engine.WithStepBackoff(retry.Policy{Base: 10 * time.Minute}))
	}))
	h, err := engine.StartWorkflow[int, int](context.Background(), long.Engine, "t/dur", 1)
	must(t, err)
	long.RunUntilDone(h.TaskID)
	if got, err := h.Result(context.Background()); err != nil || got != 1 {
		t.Fatalf("durable step with a ten-minute base under an hour's max: %d, %v", got, err)
	}

	def := testkit.NewEngine(t, nil)
	must(t, def.HandleFunc("h", func(*engine.StepContext) (any, error) { return 1, nil }))
	err = def.Register(&engine.Template{Namespace: "t", Name: "slow", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "h", Backoff: retry.Policy{Base: 10 * time.Minute}}}})
	want := `steps[0].retry.base: step "charge": retry base 10m0s is above the engine's retry max 5m0s (Config.Retry.Max), which would cap every delay: set max too`
	if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Register under the default max = %v; want %q", err, want)
	}
}
