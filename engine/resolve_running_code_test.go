package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A code-first workflow that caught a durable step's failure and went on
// cannot have that step resolved while it runs: the resolved result stood
// in its history where it had seen the failure, and its next replay failed
// it as not deterministic. The refusal changes nothing; the workflow goes
// on as it was.
func TestResolveOfARunningCodeFirstWorkflowRefused(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Retry: retryFast}})
	must(t, engine.RegisterWorkflow(env.Engine, "t/caught", func(wctx *engine.WorkflowContext, _ int) (string, error) {
		_, err := engine.Step(wctx, "pay", func(ctx context.Context) (int, error) {
			return 0, engine.Permanent(errors.New("card declined"))
		})
		var sf *engine.StepFailedError
		if !errors.As(err, &sf) {
			return "", err
		}
		if err := engine.Sleep(wctx, time.Hour); err != nil {
			return "", err
		}
		return "refunded", nil
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, string](ctx, env.Engine, "t/caught", 1)
	must(t, err)
	payFailed := func() bool {
		s := env.Task(h.TaskID).Step("pay")
		return s != nil && s.State == store.StepError
	}
	for range 10 {
		if payFailed() {
			break
		}
		if _, err := env.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !payFailed() {
		t.Fatal("the durable step pay did not fail")
	}
	err = env.Engine.Resolve(ctx, h.TaskID, "pay", 5)
	if !errors.Is(err, engine.ErrRefused) || !strings.Contains(err.Error(), "has acted on the step's outcome") {
		t.Fatalf("Resolve of a caught failure in a running workflow: %v, want ErrRefused saying why", err)
	}
	if s := env.Task(h.TaskID).Step("pay"); s.State != store.StepError {
		t.Fatalf("after the refusal, pay is %s, want error (unchanged)", s.State)
	}
	env.Clock.Advance(2 * time.Hour)
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != "refunded" {
		t.Fatalf("result %q, %v; want the workflow to go on as it was: refunded", got, err)
	}
}

// A running code-first workflow's durable step that completed, or that it
// is waiting on (an event wait), is refused for what it is: the refusal
// said of each that the workflow had "acted on the step's outcome already
// (a failure it caught)", of a step that never failed, and of a wait whose
// outcome the workflow has not seen yet. The refusal changes nothing.
func TestResolveOfARunningWorkflowsStepSaysWhatTheStepIs(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/waits", func(wctx *engine.WorkflowContext, _ int) (string, error) {
		if _, err := engine.Step(wctx, "charge", func(context.Context) (int, error) { return 1, nil }); err != nil {
			return "", err
		}
		return engine.WaitEvent[string](wctx, "approval", time.Hour)
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, string](ctx, env.Engine, "t/waits", 1)
	must(t, err)
	for range 3 {
		if _, err := env.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if s := env.Task(h.TaskID).Step("approval"); s == nil {
		t.Fatal("the workflow did not reach its wait")
	}
	for _, c := range []struct{ step, want string }{
		{"charge", "step \"charge\" is complete"},
		{"approval", "is waiting on step \"approval\""},
	} {
		err := env.Engine.Resolve(ctx, h.TaskID, c.step, "x")
		if !errors.Is(err, engine.ErrRefused) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "a failure it caught") {
			t.Errorf("Resolve of %s: %v; want ErrRefused saying %s", c.step, err, c.want)
		}
	}
	if !strings.Contains(fmt.Sprint(env.Engine.Resolve(ctx, h.TaskID, "approval", "x")), "SendEvent") {
		t.Error("the refusal of the wait does not say how it ends (SendEvent)")
	}
	d := env.Task(h.TaskID)
	if d.Step("charge").State != store.StepComplete || d.Step("approval").State.Satisfied() {
		t.Fatalf("the refusals changed the steps: charge %s, approval %s", d.Step("charge").State, d.Step("approval").State)
	}
	if _, err := env.Engine.SendEvent(ctx, h.TaskID, "approval", "k", "yes"); err != nil {
		t.Fatal(err)
	}
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != "yes" {
		t.Fatalf("result %q, %v; want yes", got, err)
	}
}

// A value JSON cannot carry — an event's payload, a step's results given
// by hand, a json.RawMessage that is not JSON — is the caller's mistake,
// refused with store.ErrInvalid as a bad name is (and as Start refuses such
// an input with ErrInvalidInput): it was a bare encoding error, which a
// caller sorting its mistakes from the database's failures (an HTTP
// front answering 400 or 500) could not tell apart. Nothing is recorded.
func TestValuesJSONCannotCarryAreErrInvalid(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/waits", func(wctx *engine.WorkflowContext, _ int) (string, error) {
		return engine.WaitEvent[string](wctx, "approval", time.Hour)
	}))
	must(t, env.Engine.HandleFunc("boom", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("no")) }))
	must(t, env.Engine.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{{Name: "s", Handler: "boom"}}}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, string](ctx, env.Engine, "t/waits", 1)
	must(t, err)
	dag, err := env.Engine.Start(ctx, "t/dag", nil)
	must(t, err)
	for _, bad := range []any{func() {}, json.RawMessage("not json")} {
		if _, err := env.Engine.SendEvent(ctx, h.TaskID, "approval", "k", bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("SendEvent with payload %T: %v; want store.ErrInvalid", bad, err)
		}
		if err := env.Engine.Resolve(ctx, dag.TaskID, "s", bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Resolve with results %T: %v; want store.ErrInvalid", bad, err)
		}
	}
	if created, err := env.Engine.SendEvent(ctx, h.TaskID, "approval", "k", "yes"); !created || err != nil {
		t.Fatalf("SendEvent after the refusals = %v, %v; want a new event (the refused ones recorded nothing)", created, err)
	}
	if s := env.Task(dag.TaskID).Step("s"); s.State.Satisfied() {
		t.Fatalf("the refused resolves left step s %s", s.State)
	}
}

// A failed code-first workflow's durable step is resolved where the
// workflow failed on it: of two steps named alike (a retry loop), the name
// resolves the one whose failure the workflow returned, and a failure it
// caught and went on from is refused (ErrRefused, naming the step it
// failed on), changing nothing. Resolve took the first step of the name,
// the caught failure: the task stayed in error, and a Retry then failed it
// as not deterministic (the replay saw a result where the code had seen
// the failure).
func TestResolveOfAFailedWorkflowTakesTheStepItFailedOn(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Retry: retryFast}})
	must(t, engine.RegisterWorkflow(env.Engine, "t/twice", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		v, err := engine.Step(wctx, "call", func(context.Context) (int, error) { return 0, engine.Permanent(errors.New("first fails")) })
		if err == nil {
			return v, nil
		}
		return engine.Step(wctx, "call", func(context.Context) (int, error) { return 0, engine.Permanent(errors.New("second fails")) })
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/twice", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	caught := env.Task(h.TaskID).StepsNamed("call")[0]
	err = env.Engine.Resolve(ctx, h.TaskID, caught.Name, 5)
	if !errors.Is(err, engine.ErrRefused) || !strings.Contains(err.Error(), "sequence 2") {
		t.Fatalf("Resolve of the caught failure %s: %v; want ErrRefused naming the step the workflow failed on (sequence 2)", caught.Name, err)
	}
	if s := env.Task(h.TaskID).Step(caught.Name); s.State != store.StepError {
		t.Fatalf("the refused resolve left %s %s, want error", caught.Name, s.State)
	}
	must(t, env.Engine.Resolve(ctx, h.TaskID, "call", 7))
	steps := env.Task(h.TaskID).StepsNamed("call")
	if steps[0].State != store.StepError || steps[1].State != store.StepResolvedManually {
		t.Fatalf("after Resolve of call: %s %s, %s %s; want the first in error (caught), the second resolved", steps[0].Name, steps[0].State, steps[1].Name, steps[1].State)
	}
	// The workflow's driver is in error still: the task runs on once retried.
	if st := env.Task(h.TaskID).Task.State; st != store.TaskError {
		t.Fatalf("after Resolve of call the task is %s, want error (retried next)", st)
	}
	must(t, env.Engine.Retry(ctx, h.TaskID))
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != 7 {
		t.Fatalf("result %d, %v; want 7, the resolved step's", got, err)
	}
}
