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

// TestWaitWithoutPositiveTimeoutFailsTheWorkflow: WaitEvent and
// ReceiveUpdate with a timeout of 0 (a mistake for "forever") or less timed
// out at once, silently; the workflow now fails with a permanent error
// naming the call, and records no wait.
func TestWaitWithoutPositiveTimeoutFailsTheWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/wait0", func(wctx *engine.WorkflowContext, d time.Duration) (bool, error) {
		_, err := engine.WaitEvent[bool](wctx, "approval", d)
		return true, err
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/update0", func(wctx *engine.WorkflowContext, d time.Duration) (bool, error) {
		_, err := engine.ReceiveUpdate[int](wctx, "bump", d)
		return true, err
	}))
	for _, c := range []struct {
		workflow string
		d        time.Duration
		want     string
	}{
		{"t/wait0", 0, `engine.WaitEvent("approval", 0s): the timeout is not positive`},
		{"t/wait0", -time.Second, `engine.WaitEvent("approval", -1s): the timeout is not positive`},
		{"t/update0", 0, `engine.ReceiveUpdate("bump", 0s): the timeout is not positive`},
	} {
		h, err := engine.StartWorkflow[time.Duration, bool](ctx, env.Engine, c.workflow, c.d)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s(%s): %v, want a failure saying %q", c.workflow, c.d, err, c.want)
		}
		if d := env.Task(h.TaskID); d.Task.State != store.TaskError || len(env.DurableSteps(h.TaskID)) != 0 {
			t.Errorf("%s(%s): task %s with durable steps %v, want error and none", c.workflow, c.d, d.Task.State, env.DurableSteps(h.TaskID))
		}
	}
	// A positive timeout still times out after it.
	h, err := engine.StartWorkflow[time.Duration, bool](ctx, env.Engine, "t/wait0", time.Minute)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if _, err = h.Result(ctx); err == nil || !strings.Contains(err.Error(), `event "approval" did not arrive within 1m0s`) {
		t.Fatalf("a minute's wait: %v, want the timeout", err)
	}
}

// TestWaitForAnUnnamedEventFailsTheWorkflow: WaitEvent, ReceiveUpdate and
// Select's OnUpdate with an empty name waited (until their timeout) for an
// event no one can send — SendEvent refuses an empty name and Update an
// empty update name — while Select already refused OnEvent(""). The
// workflow now fails with a permanent error naming the call, and records
// no wait.
func TestWaitForAnUnnamedEventFailsTheWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		fn   func(wctx *engine.WorkflowContext, _ int) (bool, error)
		want string
	}{
		{"event", func(wctx *engine.WorkflowContext, _ int) (bool, error) {
			_, err := engine.WaitEvent[bool](wctx, "", time.Hour)
			return true, err
		}, `engine.WaitEvent("", 1h0m0s): the event name is empty`},
		{"update", func(wctx *engine.WorkflowContext, _ int) (bool, error) {
			_, err := engine.ReceiveUpdate[int](wctx, "", time.Hour)
			return true, err
		}, `engine.ReceiveUpdate("", 1h0m0s): the update name is empty`},
		{"select", func(wctx *engine.WorkflowContext, _ int) (bool, error) {
			var req *engine.UpdateRequest[int]
			_, err := engine.Select(wctx, engine.OnUpdate("", &req), engine.OnTimer(engine.NewTimer(wctx, time.Hour)))
			return true, err
		}, `engine.Select: case 0 selects an update with no name`},
	} {
		must(t, engine.RegisterWorkflow(env.Engine, "t/unnamed-"+c.name, c.fn))
		h, err := engine.StartWorkflow[int, bool](ctx, env.Engine, "t/unnamed-"+c.name, 1)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a failure saying %q", c.name, err, c.want)
		}
		if d := env.Task(h.TaskID); d.Task.State != store.TaskError || len(env.DurableSteps(h.TaskID)) > 1 { // (select: its timer)
			t.Errorf("%s: task %s with durable steps %v, want error and no wait", c.name, d.Task.State, env.DurableSteps(h.TaskID))
		}
	}
}

// TestSubMillisecondWaitsFailTheWorkflow: Sleep, NewTimer, WaitEvent and
// ReceiveUpdate took a positive duration under a millisecond as it was — a
// bare number is nanoseconds, so Sleep(w, 30) (meant 30 s) slept 30 ns. The
// workflow now fails with a permanent error naming the call and the value,
// and records no wait. SleepUntil a moment away, whose duration the engine
// computes, still sleeps.
func TestSubMillisecondWaitsFailTheWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		fn   func(wctx *engine.WorkflowContext, d time.Duration) (bool, error)
		want string
	}{
		{"sleep", func(wctx *engine.WorkflowContext, d time.Duration) (bool, error) {
			return true, engine.Sleep(wctx, d)
		}, `engine.Sleep 30ns is under a millisecond: a bare number is nanoseconds`},
		{"event", func(wctx *engine.WorkflowContext, d time.Duration) (bool, error) {
			_, err := engine.WaitEvent[bool](wctx, "approval", d)
			return true, err
		}, `engine.WaitEvent("approval", 30ns): the timeout must be at least 1ms (a bare number is nanoseconds`},
		{"update", func(wctx *engine.WorkflowContext, d time.Duration) (bool, error) {
			_, err := engine.ReceiveUpdate[int](wctx, "bump", d)
			return true, err
		}, `engine.ReceiveUpdate("bump", 30ns): the timeout must be at least 1ms (a bare number is nanoseconds`},
		// (Last: without the check, this one never finished under the
		// fake clock, so the cases above report first.)
		{"timer", func(wctx *engine.WorkflowContext, d time.Duration) (bool, error) {
			_, err := engine.Select(wctx, engine.OnEvent[bool]("go", nil), engine.OnTimer(engine.NewTimer(wctx, d)))
			return true, err
		}, `engine.NewTimer 30ns is under a millisecond: a bare number is nanoseconds`},
		{"timer-unselected", func(wctx *engine.WorkflowContext, d time.Duration) (bool, error) {
			engine.NewTimer(wctx, d)
			return true, nil
		}, `engine.NewTimer 30ns is under a millisecond: a bare number is nanoseconds`},
	} {
		must(t, engine.RegisterWorkflow(env.Engine, "t/ns-"+c.name, c.fn))
		h, err := engine.StartWorkflow[time.Duration, bool](ctx, env.Engine, "t/ns-"+c.name, 30)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a failure saying %q", c.name, err, c.want)
		}
		if d := env.Task(h.TaskID); d.Task.State != store.TaskError || len(env.DurableSteps(h.TaskID)) != 0 {
			t.Errorf("%s: task %s with durable steps %v, want error and none", c.name, d.Task.State, env.DurableSteps(h.TaskID))
		}
	}
	// 0 still means "no wait", and SleepUntil a few microseconds away
	// (the engine's own remainder) still sleeps.
	must(t, engine.RegisterWorkflow(env.Engine, "t/ns-until", func(wctx *engine.WorkflowContext, _ int) (bool, error) {
		if err := engine.Sleep(wctx, 0); err != nil {
			return false, err
		}
		return true, engine.SleepUntil(wctx, wctx.Now().Add(500*time.Microsecond))
	}))
	h, err := engine.StartWorkflow[int, bool](ctx, env.Engine, "t/ns-until", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if ok, err := h.Result(ctx); err != nil || !ok {
		t.Fatalf("Sleep(0) then SleepUntil(now+500µs): %v, %v; want true, nil", ok, err)
	}
}

// A timer whose deadline is not a whole microsecond fires. The store keeps
// times to the microsecond, so the driver's wake-up was written truncated,
// a few hundred nanoseconds before the deadline: Select found the timer not
// yet due and suspended again until the same truncated time, for ever
// under a fake clock (a busy spin of claims on a real one, until the
// clock passed the deadline).
func TestTimerOffTheMicrosecondFires(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/timer-ns", func(wctx *engine.WorkflowContext, d time.Duration) (int, error) {
		return engine.Select(wctx, engine.OnEvent[bool]("never", nil), engine.OnTimer(engine.NewTimer(wctx, d)))
	}))
	for _, d := range []time.Duration{time.Millisecond + 30, 7*time.Millisecond + 999} {
		h, err := engine.StartWorkflow[time.Duration, int](ctx, env.Engine, "t/timer-ns", d)
		must(t, err)
		// Without the fix RunOnce never returns (the driver is ready again
		// at once, for ever): bound the wait for it.
		done := make(chan struct{})
		go func() {
			defer close(done)
			env.RunUntilDone(h.TaskID)
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("Select on NewTimer(%s): the workflow did not finish within a minute", d)
		}
		if got, err := h.Result(ctx); err != nil || got != 1 {
			t.Fatalf("Select on NewTimer(%s): case %d, %v; want the timer (1)", d, got, err)
		}
	}
}

// TestSleepUntilTheZeroTimeFailsTheWorkflow: SleepUntil of the zero time
// (a time.Time left unset) fails the workflow at once, naming the call, as
// StartAt refuses it; it was taken as a time long past, recorded a sleep
// and returned at once.
func TestSleepUntilTheZeroTimeFailsTheWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/untilzero", func(wctx *engine.WorkflowContext, _ int) (bool, error) {
		var wake time.Time // meant to be set from the input, say
		return true, engine.SleepUntil(wctx, wake)
	}))
	h, err := engine.StartWorkflow[int, bool](ctx, env.Engine, "t/untilzero", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(ctx)
	var te *engine.TaskError
	if want := "engine.SleepUntil: the time is zero"; !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), want) {
		t.Fatalf("SleepUntil(time.Time{}): %v; want the workflow failed at once saying %q", err, want)
	}
	if steps := env.DurableSteps(h.TaskID); len(steps) != 0 {
		t.Fatalf("durable steps recorded: %+v", steps)
	}
}
