package engine_test

import (
	"context"
	"errors"
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
