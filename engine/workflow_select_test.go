package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// approveOrEscalate waits for "approve" or "reject" for three days, then
// escalates; after the decision it waits (WaitEvent) for the other event
// too, so both orders of arrival are part of the recorded history.
func approveOrEscalate(t *testing.T, env *testkit.Env, escalated *calls) {
	t.Helper()
	must(t, engine.RegisterWorkflow(env.Engine, "t/select", func(wctx *engine.WorkflowContext, in struct{ Both bool }) (string, error) {
		deadline := engine.NewTimer(wctx, 72*time.Hour)
		var by, why string
		i, err := engine.Select(wctx, engine.OnEvent("approve", &by), engine.OnEvent("reject", &why), engine.OnTimer(deadline))
		if err != nil {
			return "", err
		}
		out := ""
		switch i {
		case 0:
			out = "approved by " + by
		case 1:
			out = "rejected: " + why
		case 2:
			if _, err := engine.Step(wctx, "escalate", func(ctx context.Context) (int, error) { escalated.inc("escalate"); return 1, nil }); err != nil {
				return "", err
			}
			return "escalated", nil
		}
		if in.Both { // the other event, whichever it is
			other := map[int]string{0: "reject", 1: "approve"}[i]
			v, err := engine.WaitEvent[string](wctx, other, time.Hour)
			if err != nil {
				return "", err
			}
			out += " then " + v
		}
		return out, nil
	}))
}

func TestWorkflowSelectEventsInBothOrders(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	var escalated calls
	approveOrEscalate(t, env, &escalated)
	ctx := context.Background()
	type ev struct{ name, payload string }
	run := func(n int, both bool, events ...ev) (int64, string) {
		h, err := engine.StartWorkflow[struct{ Both bool }, string](ctx, env.Engine, "t/select", struct{ Both bool }{both}, engine.WithIdempotencyKey(fmt.Sprint("sel-", n)))
		must(t, err)
		env.RunFor(time.Hour) // reaches the Select and suspends
		for _, e := range events {
			env.SendEvent(h.TaskID, e.name, e.name, e.payload)
			env.RunFor(time.Minute) // the workflow sees it before the next arrives
		}
		env.RunUntilDone(h.TaskID)
		got, err := h.Result(ctx)
		must(t, err)
		testkit.Replay(t, env.Engine, h.TaskID)
		return h.TaskID, got
	}
	// approve first, then reject; and the other way round.
	_, got := run(1, true, ev{"approve", "ann"}, ev{"reject", "too dear"})
	if got != "approved by ann then too dear" {
		t.Fatalf("approve then reject: %q", got)
	}
	id, got := run(2, true, ev{"reject", "too dear"}, ev{"approve", "ann"})
	if got != "rejected: too dear then ann" {
		t.Fatalf("reject then approve: %q", got)
	}
	want := "1 timer timer complete 1|2 select select complete 1|3 event approve complete 1"
	if got := strings.Join(describeDurable(env.DurableSteps(id)), "|"); got != want {
		t.Fatalf("durable steps %s, want %s", got, want)
	}
	// Both already there when the Select first runs: the earlier case wins.
	h, err := engine.StartWorkflow[struct{ Both bool }, string](ctx, env.Engine, "t/select", struct{ Both bool }{true}, engine.WithIdempotencyKey("sel-3"))
	must(t, err)
	env.SendEvent(h.TaskID, "reject", "r", "late")
	env.SendEvent(h.TaskID, "approve", "a", "bob")
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != "approved by bob then late" {
		t.Fatalf("both waiting: %q, %v", got, err)
	}
	// Nobody answers: the timer wins after three days.
	t0 := env.Clock.Now()
	_, got = run(4, false)
	if got != "escalated" || escalated.get("escalate") != 1 {
		t.Fatalf("timeout: %q, escalated %d times", got, escalated.get("escalate"))
	}
	if waited := env.Clock.Now().Sub(t0); waited < 72*time.Hour {
		t.Fatalf("escalated after %s", waited)
	}
}

// An event that arrives after the Select was decided does not change the
// recorded choice: the replay (and the resumed run) return the same case.
func TestWorkflowSelectDecisionIsRecorded(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	var escalated calls
	approveOrEscalate(t, env, &escalated)
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{ Both bool }, string](ctx, env.Engine, "t/select", struct{ Both bool }{true})
	must(t, err)
	env.RunFor(time.Hour)
	env.SendEvent(h.TaskID, "reject", "r", "no")
	env.RunFor(time.Minute) // the Select is decided (reject), now waiting for approve
	env.SendEvent(h.TaskID, "approve", "a", "ann")
	must(t, env.Replay(ctx, h.TaskID))
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != "rejected: no then ann" {
		t.Fatalf("result %q, %v", got, err)
	}
}

// Futures in a Select: the first to finish in list order wins; a failed
// one wins too (its Get returns the failure); misuse fails the workflow.
func TestWorkflowSelectFuturesAndMisuse(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	release := make(chan struct{})
	must(t, engine.RegisterWorkflow(env.Engine, "t/race", func(wctx *engine.WorkflowContext, in struct{}) (string, error) {
		slow := engine.Go(wctx, "slow", func(ctx context.Context) (string, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return "slow", nil
		})
		fast := engine.Go(wctx, "fast", func(ctx context.Context) (string, error) { return "", engine.Permanent(errors.New("fast failed")) })
		i, err := engine.Select(wctx, engine.OnFuture(slow), engine.OnFuture(fast), engine.OnTimer(engine.NewTimer(wctx, time.Hour)))
		if err != nil {
			return "", err
		}
		close(release)
		_, ferr := fast.Get()
		v, _ := slow.Get()
		return fmt.Sprintf("%d %v %s", i, errors.Is(ferr, engine.ErrStepFailed), v), nil
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/badselect", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		return engine.Select(wctx, engine.OnEvent[int]("x", nil), engine.OnEvent[int]("x", nil))
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, string](ctx, env.Engine, "t/race", struct{}{})
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != "1 true slow" {
		t.Fatalf("race: %q, %v", got, err)
	}
	testkit.Replay(t, env.Engine, h.TaskID)
	b, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, "t/badselect", struct{}{})
	must(t, err)
	env.RunUntilDone(b.TaskID)
	if _, err := b.Result(ctx); err == nil || !strings.Contains(err.Error(), `event "x" is selected twice`) {
		t.Fatalf("duplicate event: %v", err)
	}
}

// TestWorkflowSelectRefusesANilFuture: Select given OnFuture(nil) fails the
// workflow with a permanent error naming the case, as a nil timer does; it
// panicked on the nil future inside Select, and the panic was retried as
// the driver's failure.
func TestWorkflowSelectRefusesANilFuture(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/nilfuture", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		var f *engine.Future[int]
		return engine.Select(wctx, engine.OnTimer(engine.NewTimer(wctx, time.Hour)), engine.OnFuture(f))
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, "t/nilfuture", struct{}{})
	must(t, err)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(ctx)
	var te *engine.TaskError
	if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), "engine.Select: case 1 is a nil future") {
		t.Fatalf("a nil future: %v; want the workflow failed at once naming the case", err)
	}
}

// TestWorkflowSelectRefusesANilUpdateRequest: Select given OnUpdate(name,
// nil) fails the workflow with a permanent error naming the case; once an
// update came, Select panicked storing it through the nil pointer, and the
// panic was retried as the driver's failure.
func TestWorkflowSelectRefusesANilUpdateRequest(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/nilreq", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		return engine.Select(wctx, engine.OnUpdate[int]("bump", nil))
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, "t/nilreq", struct{}{})
	must(t, err)
	updated := make(chan error, 1)
	go func() {
		_, err := engine.Update[int](ctx, env.Engine, h.TaskID, "bump", "u1", 1)
		updated <- err
	}()
	for done := false; !done; {
		_, err := env.RunOnce(ctx)
		must(t, err)
		select {
		case err := <-updated: // once the workflow has ended
			if !errors.Is(err, engine.ErrUpdateUnanswered) {
				t.Fatalf("Update: %v; want ErrUpdateUnanswered", err)
			}
			done = true
		case <-time.After(time.Millisecond):
		}
	}
	_, err = h.Result(ctx)
	var te *engine.TaskError
	if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), `engine.Select: case 0, OnUpdate("bump"), has a nil request pointer`) {
		t.Fatalf("a nil request pointer: %v; want the workflow failed at once naming the case", err)
	}
}

// TestWorkflowSelectRefusesEventNamesNoSenderCanUse: Select fails the
// workflow at once, naming the case and the problem, given an event name
// SendEvent refuses (a NUL byte, not UTF-8, over 255 bytes), as WaitEvent
// does. The store refused the name when Select recorded its wait, in its
// own words ("consume_event: contains a NUL byte"), and the driver was
// retried for that ten times before the workflow failed.
func TestWorkflowSelectRefusesEventNamesNoSenderCanUse(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	for i, c := range []struct{ event, want string }{
		{"a\x00b", `engine.Select: case 1, event name "a\x00b" contains a NUL byte`},
		{"a\xffb", `engine.Select: case 1, event name "a\xffb" is not valid UTF-8`},
		{strings.Repeat("e", 256), `engine.Select: case 1, event name "eeee`},
	} {
		name := fmt.Sprintf("t/badname%d", i)
		must(t, engine.RegisterWorkflow(env.Engine, name, func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
			var v int
			return engine.Select(wctx, engine.OnTimer(engine.NewTimer(wctx, time.Hour)), engine.OnEvent(c.event, &v))
		}))
		h, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, name, struct{}{})
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("event name %q: %v; want the workflow failed at once with %s", c.event, err, c.want)
		}
		if d := env.Task(h.TaskID).Step(engine.DriverStep); d.Attempts != 1 {
			t.Fatalf("event name %q: the driver ran %d times, want 1", c.event, d.Attempts)
		}
	}
}

// TestWorkflowSelectRefusesTheSameFutureOrTimerTwice: a Select given one
// future (or timer) in two cases — a typo for another — returned the first
// index whenever it was ready: the later case could never win, and its
// branch was dead without a word. It now fails the workflow naming both
// cases, before anything is recorded.
func TestWorkflowSelectRefusesTheSameFutureOrTimerTwice(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	one := func(context.Context) (int, error) { return 1, nil }
	must(t, engine.RegisterWorkflow(env.Engine, "t/dupfuture", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		a, _ := engine.Go(wctx, "a", one), engine.Go(wctx, "b", one)
		return engine.Select(wctx, engine.OnFuture(a), engine.OnTimer(engine.NewTimer(wctx, time.Hour)), engine.OnFuture(a))
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/duptimer", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		tm := engine.NewTimer(wctx, time.Hour)
		return engine.Select(wctx, engine.OnTimer(tm), engine.OnTimer(tm))
	}))
	for wf, want := range map[string]string{
		"t/dupfuture": "engine.Select: cases 0 and 2 select the same future",
		"t/duptimer":  "engine.Select: cases 0 and 1 select the same timer",
	} {
		h, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, wf, struct{}{})
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want the workflow failed at once saying %q", wf, err, want)
		}
		for _, s := range env.DurableSteps(h.TaskID) {
			if s.Kind == "select" {
				t.Errorf("%s: a select was recorded: %v", wf, env.DurableSteps(h.TaskID))
			}
		}
	}
}
