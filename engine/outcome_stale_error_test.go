package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A failure an operator's Retry or Resolve put behind the task is not the
// task's outcome: a retried task that completes has no Outcome.Error, one
// cancelled after its retry ended cancelled and not with the old step's
// failure (errors.Is ErrStepFailed), and a task a resolve completed has
// none either.
func TestOutcomeHasNoFailureAnOperatorPutBehindIt(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	var mu sync.Mutex
	fails := map[string]bool{} // by the input's "k": fail the first attempt
	must(t, env.HandleFunc("h", func(sc *engine.StepContext) (any, error) {
		var in struct{ K string }
		must(t, sc.Input(&in))
		mu.Lock()
		defer mu.Unlock()
		if !fails[in.K] {
			fails[in.K] = true
			return nil, engine.Permanent(errors.New("boom"))
		}
		return "ok", nil
	}))
	must(t, env.HandleFunc("wait", func(*engine.StepContext) (any, error) { return "ok", nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "c", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "h"}, {Name: "b", Handler: "wait", DependsOn: []string{"a"}}}}))
	failed := func(k string) *engine.TaskHandle {
		t.Helper()
		h, err := env.Start(ctx, "t/c", map[string]string{"k": k})
		must(t, err)
		env.RunUntilDone(h.TaskID)
		if out, err := h.Wait(ctx); err != nil || out.State != store.TaskError || !errors.Is(out.Err(), engine.ErrStepFailed) {
			t.Fatalf("task %s: %v (%v), want error", k, out, err)
		}
		return h
	}

	h := failed("retried")
	must(t, env.Retry(ctx, h.TaskID))
	env.RunUntilDone(h.TaskID)
	out, err := h.Wait(ctx)
	must(t, err)
	if out.State != store.TaskComplete || len(out.Error) != 0 {
		t.Fatalf("retried task ended %s with Error %s, want complete with none", out.State, out.Error)
	}

	h = failed("cancelled")
	must(t, env.Retry(ctx, h.TaskID))
	must(t, env.Cancel(ctx, h.TaskID, "not needed"))
	out, err = h.Wait(ctx)
	must(t, err)
	if err := out.Err(); !errors.Is(err, engine.ErrCancelled) || errors.Is(err, engine.ErrStepFailed) || len(out.Error) != 0 {
		t.Fatalf("task cancelled after its retry: %v (Error %s), want cancelled without the failure retried", err, out.Error)
	}

	h = failed("resolved")
	must(t, env.Resolve(ctx, h.TaskID, "a", "by hand"))
	env.RunUntilDone(h.TaskID)
	out, err = h.Wait(ctx)
	must(t, err)
	if out.State != store.TaskComplete || len(out.Error) != 0 {
		t.Fatalf("task completed after a resolve ended %s with Error %s, want complete with none", out.State, out.Error)
	}
}
