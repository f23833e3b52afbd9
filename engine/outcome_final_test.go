package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// Handlers see their dependencies' names; the DAG's final result is the
// result of its one sink step.
func TestDependenciesAndFinalOfOneSink(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	var mu sync.Mutex
	seen := map[string][]string{}
	must(t, env.HandleFunc("n", func(sc *engine.StepContext) (any, error) {
		mu.Lock()
		seen[sc.Step] = sc.Dependencies()
		mu.Unlock()
		total := 1
		for _, dep := range sc.Dependencies() {
			v, err := engine.Result[int](sc, dep)
			if err != nil {
				return nil, err
			}
			total += v
		}
		return total, nil
	}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "diamond", Steps: []engine.StepTemplate{
		{Name: "start", Handler: "n"},
		{Name: "right", Handler: "n", DependsOn: []string{"start"}},
		{Name: "left", Handler: "n", DependsOn: []string{"start"}},
		{Name: "join", Handler: "n", DependsOn: []string{"right", "left"}},
	}}))
	ctx := context.Background()
	h, err := env.Start(ctx, "t/diamond", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)

	want := map[string][]string{"start": {}, "left": {"start"}, "right": {"start"}, "join": {"left", "right"}}
	for step, deps := range want {
		if !slices.Equal(seen[step], deps) {
			t.Errorf("step %s saw Dependencies() = %q, want %q", step, seen[step], deps)
		}
	}
	out, err := h.Wait(ctx)
	must(t, err)
	if got := out.FinalSteps(); !slices.Equal(got, []string{"join"}) {
		t.Fatalf("FinalSteps() = %q, want [join]", got)
	}
	var final int
	must(t, out.DecodeFinal(&final))
	if final != 5 { // start 1, left 2, right 2, join 1+2+2
		t.Fatalf("DecodeFinal = %d, want 5", final)
	}
}

// With several sinks the final result is an object keyed by step name.
func TestFinalOfSeveralSinks(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("name", func(sc *engine.StepContext) (any, error) { return "from " + sc.Step, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "fan", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "name"},
		{Name: "c", Handler: "name", DependsOn: []string{"a"}},
		{Name: "b", Handler: "name", DependsOn: []string{"a"}},
	}}))
	ctx := context.Background()
	h, err := env.Start(ctx, "t/fan", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	out, err := h.Wait(ctx)
	must(t, err)
	if got := out.FinalSteps(); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("FinalSteps() = %q, want [b c]", got)
	}
	var final map[string]string
	must(t, out.DecodeFinal(&final))
	if len(final) != 2 || final["b"] != "from b" || final["c"] != "from c" {
		t.Fatalf("DecodeFinal = %v", final)
	}
	// Decoded as one sink's type, the error says what the result is (it
	// said only "cannot unmarshal object into Go value of type string").
	var one string
	if err := out.DecodeFinal(&one); err == nil || !strings.Contains(err.Error(), "an object keyed by its final steps b, c") {
		t.Fatalf("DecodeFinal into a string = %v", err)
	}
	// A step the task does not have is named as such, with the task's steps.
	if err := out.Decode("d", &one); err == nil || !strings.Contains(err.Error(), `has no step "d" (its steps: a, b, c)`) {
		t.Fatalf("Decode of a step the task lacks = %v", err)
	}
}

// A run that continued as new has no final result of its own: Final says
// so, naming the next run (a *ContinuedError). It returned the marker that
// links the runs, and DecodeFinal failed to decode it as the workflow's
// result type ("cannot unmarshal object into Go value of type int").
func TestFinalOfContinuedRun(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/loop", func(w *engine.WorkflowContext, n int) (int, error) {
		if n < 2 {
			return 0, engine.ContinueAsNew(w, n+1)
		}
		return n * 10, nil
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/loop", 1)
	must(t, err)
	env.RunFor(time.Minute)
	runs, err := env.Runs(ctx, h.TaskID)
	must(t, err)
	out, err := env.Wait(ctx, h.TaskID)
	must(t, err)
	var final int
	err = out.DecodeFinal(&final)
	var ce *engine.ContinuedError
	if !errors.As(err, &ce) || ce.TaskID != h.TaskID || ce.Next != runs.ContinuedAs || !strings.Contains(err.Error(), "has no final result of its own") {
		t.Fatalf("DecodeFinal of a continued run = %v (runs %+v)", err, runs)
	}
	last, err := env.Wait(ctx, runs.ContinuedAs)
	must(t, err)
	must(t, last.DecodeFinal(&final))
	if final != 20 {
		t.Fatalf("the last run's DecodeFinal = %d, want 20", final)
	}
}

// A code-first workflow's final result is what its function returned, and
// its durable steps are found by the names the code gave them.
func TestFinalOfWorkflowAndStepByCodeName(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/wf", func(w *engine.WorkflowContext, n int) (int, error) {
		a, err := engine.Step(w, "s1", func(context.Context) (int, error) { return n + 1, nil })
		if err != nil {
			return 0, err
		}
		return engine.Step(w, "s2", func(context.Context) (int, error) { return a * 10, nil })
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/wf", 4)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	out, err := env.Wait(ctx, h.TaskID)
	must(t, err)
	var final int
	must(t, out.DecodeFinal(&final))
	if final != 50 {
		t.Fatalf("DecodeFinal = %d, want 50", final)
	}
	s2 := env.Task(h.TaskID).Step("s2")
	if s2 == nil || s2.Name != store.DurableStepName("s2", 2) || string(s2.Results) != "50" {
		t.Fatalf(`Step("s2") = %+v, want the row s2#2 with result 50`, s2)
	}
}

// A task that failed has no final result.
func TestFinalOfFailedTask(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("no", func(sc *engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("no")) }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "fail", Steps: []engine.StepTemplate{{Name: "a", Handler: "no"}}}))
	ctx := context.Background()
	h, err := env.Start(ctx, "t/fail", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	out, err := h.Wait(ctx)
	must(t, err)
	if out.State != store.TaskError {
		t.Fatalf("state %s, want error", out.State)
	}
	if raw, err := out.Final(); err == nil {
		t.Fatalf("Final() = %s, want an error for a failed task", raw)
	}
}
