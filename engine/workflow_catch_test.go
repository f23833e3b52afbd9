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

// A durable step that fails for good returns a *StepFailedError the
// workflow can handle: the workflow compensates and completes; the failed
// row stays recorded as failed, the task completes, a replay takes the same
// path, and the error the workflow saw on the first run equals the one a
// later run (a replay from the database) sees.
func TestWorkflowCatchesStepFailure(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Retry: retryFast}})
	var c calls
	seen := make(chan string, 4)
	must(t, engine.RegisterWorkflow(env.Engine, "t/catch", func(wctx *engine.WorkflowContext, in struct{ Code string }) (string, error) {
		_, err := engine.Step(wctx, "pay", func(ctx context.Context) (int, error) {
			c.inc("pay")
			if in.Code != "" {
				return 0, &engine.PermanentError{Err: errors.New("card declined"), Code: in.Code}
			}
			return 0, errors.New("gateway down")
		}, engine.WithStepRetryLimit(2), engine.WithStepBackoff(retry.Policy{Base: time.Minute, Max: time.Minute}))
		var sf *engine.StepFailedError
		if !errors.As(err, &sf) {
			return "", err
		}
		if !wctx.Replaying() { // (a replay goes past the failure too)
			seen <- sf.Error()
		}
		if err := engine.Sleep(wctx, time.Hour); err != nil { // a later run sees the failure from the database
			return "", err
		}
		if _, err := engine.Step(wctx, "release", func(ctx context.Context) (int, error) { c.inc("release"); return 1, nil }); err != nil {
			return "", err
		}
		return "released after " + sf.Failure.Kind + " " + sf.Failure.Code, nil
	}))
	ctx := context.Background()
	for _, tc := range []struct {
		code, want string
		attempts   int
	}{{"", "released after retries_exhausted ", 2}, {"declined", "released after permanent declined", 1}} {
		before := c.get("pay")
		h, err := engine.StartWorkflow[struct{ Code string }, string](ctx, env.Engine, "t/catch", struct{ Code string }{tc.code})
		must(t, err)
		env.RunUntilDone(h.TaskID)
		got, err := h.Result(ctx)
		if err != nil || got != tc.want {
			t.Fatalf("code %q: result %q, %v; want %q", tc.code, got, err, tc.want)
		}
		if n := c.get("pay") - before; n != tc.attempts {
			t.Fatalf("code %q: pay ran %d times, want %d", tc.code, n, tc.attempts)
		}
		first, second := <-seen, <-seen
		if first != second || !strings.Contains(first, "pay (sequence 1)") {
			t.Fatalf("the error differs between the first run and the resumed one:\n %s\n %s", first, second)
		}
		steps := describeDurable(env.DurableSteps(h.TaskID))
		if len(steps) != 3 || steps[0] != "1 step pay error "+string(rune('0'+tc.attempts)) || steps[2] != "3 step release complete 1" {
			t.Fatalf("durable steps %q", steps)
		}
		if d := env.Task(h.TaskID); d.Task.State != store.TaskComplete || d.Task.Unfinished != 0 {
			t.Fatalf("task %s unfinished %d", d.Task.State, d.Task.Unfinished)
		}
		testkit.Replay(t, env.Engine, h.TaskID)
	}
}

// Returned, the failure fails the workflow with the step's own kind and
// sequence; an operator retry gives that step fresh attempts and leaves a
// failure the workflow had handled as it was (the replay takes the same
// path).
func TestWorkflowUncaughtStepFailureAndRetry(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Retry: retryFast}})
	var c calls
	healed := false
	must(t, engine.RegisterWorkflow(env.Engine, "t/uncaught", func(wctx *engine.WorkflowContext, in struct{}) (string, error) {
		_, err := engine.Step(wctx, "optional", func(ctx context.Context) (int, error) {
			c.inc("optional")
			return 0, engine.Permanent(errors.New("never works"))
		})
		if !errors.Is(err, engine.ErrStepFailed) {
			return "", err
		}
		return engine.Step(wctx, "required", func(ctx context.Context) (string, error) {
			c.inc("required")
			if !healed {
				return "", engine.Permanent(errors.New("not yet"))
			}
			return "ok", nil
		})
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, string](ctx, env.Engine, "t/uncaught", struct{}{})
	must(t, err)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(ctx)
	var te *engine.TaskError
	if !errors.As(err, &te) || te.State != store.TaskError || te.Failure.Step != "required" || te.Failure.Sequence != 2 ||
		te.Failure.Kind != engine.KindPermanent || !errors.Is(err, engine.ErrStepFailed) {
		t.Fatalf("uncaught failure: %v (%+v)", err, te)
	}
	healed = true
	must(t, env.Retry(ctx, h.TaskID))
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != "ok" {
		t.Fatalf("after the retry: %q, %v", got, err)
	}
	if c.get("optional") != 1 || c.get("required") != 2 {
		t.Fatalf("executions %v: the handled failure ran again or the retried step did not", c.n)
	}
	want := "1 step optional error 1|2 step required complete 1"
	if got := strings.Join(describeDurable(env.DurableSteps(h.TaskID)), "|"); got != want {
		t.Fatalf("durable steps %q, want %q", got, want)
	}
	testkit.Replay(t, env.Engine, h.TaskID)
}

// TestReplayGoesPastAHandledStepFailure: Replay checks the history past a
// durable step that failed for good and that the workflow handled (a
// saga's compensation). It stopped at the failed step as at the end of
// the history, so a deploy that renamed the compensation, or dropped it,
// replayed as nil.
func TestReplayGoesPastAHandledStepFailure(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	compensation := "refund"
	must(t, engine.RegisterWorkflow(env.Engine, "t/saga", func(wctx *engine.WorkflowContext, in int) (string, error) {
		_, err := engine.Step(wctx, "charge", func(ctx context.Context) (int, error) { return 0, engine.Permanent(errors.New("declined")) })
		if !errors.Is(err, engine.ErrStepFailed) {
			return "charged", err
		}
		if compensation == "" {
			return "", err
		}
		return engine.Step(wctx, compensation, func(ctx context.Context) (string, error) { return "refunded", nil })
	}))
	h, err := engine.StartWorkflow[int, string](ctx, env.Engine, "t/saga", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != "refunded" {
		t.Fatalf("result %q, %v", got, err)
	}
	testkit.Replay(t, env.Engine, h.TaskID) // the same code replays cleanly
	for _, c := range []struct{ compensation, want string }{
		{"refund2", `sequence 2 is step "refund" in the recorded history but the code now calls step "refund2"`},
		{"", `the code returned before sequence 2, where the history records step "refund"`},
	} {
		compensation = c.compensation
		err := env.Replay(ctx, h.TaskID)
		if !errors.Is(err, engine.ErrNonDeterministic) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("compensation %q: Replay = %v; want it not deterministic: %s", c.compensation, err, c.want)
		}
	}
}
