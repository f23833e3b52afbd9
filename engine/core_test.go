package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/testkit"
)

// oneStep registers the one-step template ns/name whose step "only" runs
// handler h.
func oneStep(t *testing.T, e *engine.Engine, name string, h engine.HandlerFunc, step engine.StepTemplate) {
	t.Helper()
	must(t, e.HandleFunc(name, h))
	step.Name, step.Handler = "only", name
	must(t, e.Register(&engine.Template{Namespace: "t", Name: name, Steps: []engine.StepTemplate{step}}))
}

// within fails the test when ch does not close in d (a bound on a
// failure, not a synchronisation: the test goes on as soon as it closes).
func within(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s did not happen within %s", what, d)
	}
}

// runBusy runs e in the background with one handler ("t/long") running and
// ignoring everything until the returned function releases it and stops e.
func runBusy(t *testing.T, e *engine.Engine) func() {
	t.Helper()
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	oneStep(t, e, "long", func(*engine.StepContext) (any, error) {
		close(entered)
		<-release
		return nil, nil
	}, engine.StepTemplate{})
	done, err := e.RunBackground(ctx)
	must(t, err)
	_, err = e.Start(ctx, "t/long", nil)
	must(t, err)
	within(t, entered, 10*time.Second, "the long handler's start")
	return func() {
		close(release)
		must(t, e.Stop(ctx))
		<-done
	}
}

// Stop returns by its deadline although a handler ignores cancellation;
// the handler's result, arriving later while its lease holds, is recorded.
func TestStopReturnsByItsDeadlineAndRecordsALateResult(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	entered, release := make(chan struct{}), make(chan struct{})
	oneStep(t, e, "stuck", func(*engine.StepContext) (any, error) {
		close(entered)
		<-release // ignores its context
		return "late", nil
	}, engine.StepTemplate{})
	done, err := e.RunBackground(ctx)
	must(t, err)
	h, err := e.Start(ctx, "t/stuck", nil)
	must(t, err)
	within(t, entered, 10*time.Second, "the handler's start")

	const deadline = 100 * time.Millisecond
	sctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	began := time.Now()
	err = e.Stop(sctx)
	took := time.Since(began)
	t.Logf("Stop with a %s context returned after %s", deadline, took)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want the context's deadline", err)
	}
	if took > deadline+250*time.Millisecond {
		t.Fatalf("Stop took %s with a %s context", took, deadline)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	out, err := h.Wait(ctx)
	must(t, err)
	var got string
	if out.State != store.TaskComplete || out.Decode("only", &got) != nil || got != "late" {
		t.Fatalf("task %s with result %q: the late result was not recorded", out.State, got)
	}
}

// A 1 ms retry runs about 1 ms later even while another handler runs: the
// claim loop arms its timer for the earliest due time, busy or idle (it
// used to wait for the poll interval). The poll interval is an hour here,
// so the 30 s bound can only be met by that timer.
func TestShortRetryBesideALongHandlerRunsPromptly(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{Execution: engine.ExecutionConfig{PollInterval: time.Hour}})
	var failedAt, retriedAt time.Time
	retried := make(chan struct{})
	oneStep(t, e, "flaky", func(sc *engine.StepContext) (any, error) {
		if sc.Attempt == 1 {
			failedAt = time.Now()
			return nil, engine.Retryable(errors.New("busy"), time.Millisecond)
		}
		retriedAt = time.Now()
		close(retried)
		return nil, nil
	}, engine.StepTemplate{Backoff: retry.Policy{Base: time.Second, Max: time.Minute}})
	defer runBusy(t, e)()
	_, err := e.Start(ctx, "t/flaky", nil)
	must(t, err)
	within(t, retried, 30*time.Second, "the 1ms retry (the claim loop waited for its poll interval)")
	t.Logf("a 1ms retry beside a running handler ran %s after the failure", retriedAt.Sub(failedAt))
}

// A code-first Sleep of 5 ms beside a long handler ends without waiting
// for the poll interval.
func TestShortSleepBesideALongHandlerWakesPromptly(t *testing.T) {
	// The poll interval is an hour: only the claim loop's timer for the
	// sleep's end can wake the workflow before the 30 s bound (a bound on
	// a failure, far above any machine's load, not a speed target).
	e := newEngine(t, engine.Config{Execution: engine.ExecutionConfig{PollInterval: time.Hour}})
	must(t, engine.RegisterWorkflow(e, "t/nap", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		if err := engine.Sleep(wctx, 5*time.Millisecond); err != nil {
			return 0, err
		}
		return 1, nil
	}))
	defer runBusy(t, e)()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	h, err := engine.StartWorkflow[int, int](ctx, e, "t/nap", 1)
	must(t, err)
	v, err := h.Result(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sleep(5ms) beside a running handler did not end within 30 s: the claim loop waited for its poll interval")
	}
	if err != nil || v != 1 {
		t.Fatalf("result %d, %v", v, err)
	}
	t.Logf("a workflow sleeping 5ms beside a running handler finished in %s", time.Since(began))
}

// With the fake clock: after a retry is scheduled while another handler
// runs, the claim loop's timer is armed for the retry's due time, so
// moving the clock by 1 ms runs it.
func TestClaimLoopArmsItsTimerForTheRetryFakeClock(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	retried := make(chan struct{})
	oneStep(t, env.Engine, "flaky", func(sc *engine.StepContext) (any, error) {
		if sc.Attempt == 1 {
			return nil, engine.Retryable(errors.New("busy"), time.Millisecond)
		}
		close(retried)
		return nil, nil
	}, engine.StepTemplate{})
	events, unsubscribe := env.Subscribe(64)
	defer unsubscribe()
	defer runBusy(t, env.Engine)()
	_, err := env.Start(ctx, "t/flaky", nil)
	must(t, err)
	for ev := range events {
		if ev.Name == engine.EventStepRetryScheduled {
			break
		}
	}
	due := env.Clock.Now().Add(time.Millisecond)
	armed := make(chan struct{})
	go func() { // the loop re-arms its timer after the commit
		defer close(armed)
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
			if next, ok := env.Clock.Next(); ok && !next.After(due) {
				return
			}
		}
	}()
	within(t, armed, 11*time.Second, "a timer armed for the retry's due time")
	if next, _ := env.Clock.Next(); next.After(due) {
		t.Fatalf("the earliest timer is at %s, after the retry due at %s", next, due)
	}
	env.Clock.Advance(time.Millisecond)
	within(t, retried, 10*time.Second, "the retry after moving the clock 1ms")
}

// Retryable(err, d) retries after exactly d: not a floor under the jittered
// backoff, and not capped by the policy's Max.
func TestRetryableDelayIsExact(t *testing.T) {
	for _, d := range []time.Duration{time.Millisecond, 300 * time.Millisecond} {
		policy := retry.Policy{Base: 50 * time.Millisecond, Max: 100 * time.Millisecond}
		env, id, at := retryEnv(t, engine.StepTemplate{RetryLimit: 2, Backoff: policy}, func(sc *engine.StepContext) (any, error) {
			if sc.Attempt == 1 {
				return nil, engine.Retryable(errors.New("429"), d)
			}
			return "ok", nil
		})
		env.RunUntilDone(id)
		if len(*at) != 2 {
			t.Fatalf("handler ran %d times", len(*at))
		}
		if gap := (*at)[1].Sub((*at)[0]); gap != d {
			t.Fatalf("Retryable(err, %s) retried after %s", d, gap)
		}
	}
}

// A skippable step that returns Skip lets its dependants run without a
// result from it; a step that is not skippable fails instead.
func TestSkip(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("maybe", func(*engine.StepContext) (any, error) { return nil, engine.Skip("nothing to do") }))
	sawResult := make(chan bool, 1)
	must(t, env.HandleFunc("after", func(sc *engine.StepContext) (any, error) {
		_, ok := sc.RawResult("maybe")
		sawResult <- ok
		return "ran", nil
	}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "skip", Steps: []engine.StepTemplate{
		{Name: "maybe", Handler: "maybe", Skippable: true},
		{Name: "after", Handler: "after", DependsOn: []string{"maybe"}},
	}}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "noskip", Steps: []engine.StepTemplate{
		{Name: "maybe", Handler: "maybe"},
		{Name: "after", Handler: "after", DependsOn: []string{"maybe"}},
	}}))
	events, unsubscribe := env.Subscribe(64)
	defer unsubscribe()
	h, err := env.Start(ctx, "t/skip", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	out, err := h.Wait(ctx)
	must(t, err)
	if out.State != store.TaskComplete || out.Err() != nil {
		t.Fatalf("skip: task %s (%v)", out.State, out.Err())
	}
	if <-sawResult {
		t.Fatal("the dependant saw a result from the skipped step")
	}
	if _, ok := out.Results["maybe"]; ok {
		t.Fatal("the skipped step has a result")
	}
	skipped := false
	for len(events) > 0 {
		if ev := <-events; ev.Name == engine.EventStepSkipped && ev.Step == "maybe" {
			skipped = true
		}
	}
	if !skipped {
		t.Fatal("no step.skipped event")
	}

	h, err = env.Start(ctx, "t/noskip", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	out, err = h.Wait(ctx)
	must(t, err)
	var se *engine.StepError
	if !errors.As(out.Err(), &se) || se.Step != "maybe" || se.Kind != engine.KindPermanent || !strings.Contains(se.Message, "not skippable") {
		t.Fatalf("Skip from a step that is not skippable: %v", out.Err())
	}
	if d := env.Task(h.TaskID); d.Step("after").State != store.StepPending {
		t.Fatalf("the dependant of a failed step is %s", d.Step("after").State)
	}
}

// WithWorkflowTimeout ends a DAG task too: a retry that would come after
// the deadline fails the task now, with a typed timeout.
func TestDAGWorkflowTimeoutFakeClock(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	_, out := timedOut(t, env)
	var se *engine.StepError
	if !errors.Is(out.Err(), engine.ErrWorkflowTimeout) || !errors.As(out.Err(), &se) || se.Kind != engine.KindWorkflowTimeout || se.Step != "only" {
		t.Fatalf("task %s: %v", out.State, out.Err())
	}
}

// timedOut runs t/slow, one step "only" whose retry (due in 2h) would
// come after the task's 1h WithWorkflowTimeout, to its end.
func timedOut(t *testing.T, env *testkit.Env) (*engine.TaskHandle, *engine.Outcome) {
	t.Helper()
	ctx := context.Background()
	oneStep(t, env.Engine, "slow", func(*engine.StepContext) (any, error) {
		return nil, engine.Retryable(errors.New("not yet"), 2*time.Hour)
	}, engine.StepTemplate{RetryLimit: 10})
	h, err := env.Start(ctx, "t/slow", nil, engine.WithWorkflowTimeout(time.Hour))
	must(t, err)
	env.RunUntilDone(h.TaskID)
	out, err := h.Wait(ctx)
	must(t, err)
	return h, out
}

// A task whose steps no worker claims fails at its deadline all the same:
// the rescue pass fails tasks past it. The deadline was only checked as a
// step was claimed, so such a task stayed pending for ever, Wait with it.
func TestWorkflowTimeoutOfATaskNoWorkerClaims(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("mail", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "unserved", Queue: "mail", Steps: []engine.StepTemplate{{Name: "send", Handler: "mail"}}}))
	h, err := env.Start(ctx, "t/unserved", nil, engine.WithWorkflowTimeout(time.Hour))
	must(t, err)
	other, err := env.Start(ctx, "t/unserved", map[string]int{"n": 2}) // no deadline: left alone
	must(t, err)
	env.Clock.Advance(59 * time.Minute)
	if _, err := env.Rescue(ctx); err != nil {
		t.Fatal(err)
	}
	if st := env.Task(h.TaskID).Task.State; st != store.TaskPending {
		t.Fatalf("task %s before its deadline, want pending", st)
	}
	env.Clock.Advance(2 * time.Minute)
	// Until the pass, Explain says the deadline has passed (it said the
	// step waited for a worker, as if it could still run).
	ex, err := env.Explain(ctx, h.TaskID)
	must(t, err)
	if len(ex.Steps) != 1 || !strings.Contains(ex.Steps[0].Reason, "past its WithWorkflowTimeout deadline") {
		t.Fatalf("Explain past the deadline: %+v", ex.Steps)
	}
	if n, err := env.Rescue(ctx); err != nil || n != 1 {
		t.Fatalf("Rescue past the deadline moved %d, %v; want the one task", n, err)
	}
	out, err := h.Wait(ctx)
	must(t, err)
	var se *engine.StepError
	if out.State != store.TaskError || !errors.Is(out.Err(), engine.ErrWorkflowTimeout) || !errors.As(out.Err(), &se) || se.Kind != engine.KindWorkflowTimeout {
		t.Fatalf("task %s: %v; want failed with ErrWorkflowTimeout", out.State, out.Err())
	}
	if st := env.Task(other.TaskID).Task.State; st != store.TaskPending {
		t.Fatalf("the task without a deadline is %s, want pending", st)
	}
	hist, err := env.Store.History(ctx, h.TaskID)
	must(t, err)
	last := hist.Task[len(hist.Task)-1]
	if last.FromState == nil || *last.FromState != string(store.TaskPending) || last.ToState != string(store.TaskError) {
		t.Fatalf("the task's last move %+v, want pending → error", last)
	}
	if n, err := env.Rescue(ctx); err != nil || n != 0 {
		t.Fatalf("a second Rescue moved %d, %v; want nothing", n, err)
	}
}

// With the real clock, a running step sees its context end at the task's
// deadline, and the task fails with the typed timeout.
func TestDAGWorkflowTimeoutCancelsRunningSteps(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	oneStep(t, e, "wait", func(sc *engine.StepContext) (any, error) {
		<-sc.Done()
		return nil, sc.Err()
	}, engine.StepTemplate{})
	run(t, e)
	h, err := e.Start(ctx, "t/wait", nil, engine.WithWorkflowTimeout(50*time.Millisecond))
	must(t, err)
	out, err := h.Wait(ctx)
	must(t, err)
	if out.State != store.TaskError || !errors.Is(out.Err(), engine.ErrWorkflowTimeout) {
		t.Fatalf("task %s: %v", out.State, out.Err())
	}
}

// A failed task's error keeps its type in another engine on the same
// database: errors.Is/As work on what the database recorded.
func TestFailedTaskErrorIsTypedInAnotherEngine(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	openEngine := func() *engine.Engine {
		s, err := sqlite.Open(ctx, path, nil)
		must(t, err)
		t.Cleanup(func() { s.Close() })
		return newEngine(t, engine.Config{Store: s})
	}
	first := openEngine()
	oneStep(t, first, "charge", func(*engine.StepContext) (any, error) {
		return nil, &engine.PermanentError{Err: errors.New("card declined"), Code: "declined"}
	}, engine.StepTemplate{})
	h, err := first.Start(ctx, "t/charge", nil)
	must(t, err)
	if _, err := first.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, first.Cancel(ctx, mustStart(t, first, "t/charge", map[string]int{"n": 2}), "operator"))

	second := openEngine() // knows nothing of the first's handlers or memory
	out, err := second.Wait(ctx, h.TaskID)
	must(t, err)
	err = out.Err()
	var se *engine.StepError
	var te *engine.TaskError
	if !errors.Is(err, engine.ErrStepFailed) || !errors.As(err, &te) || !errors.As(err, &se) {
		t.Fatalf("Err() = %v", err)
	}
	if te.TaskID != h.TaskID || te.State != store.TaskError || se.Step != "only" || se.Attempt != 1 || se.Kind != engine.KindPermanent ||
		se.Code != "declined" || se.Message != "declined: card declined" || errors.Is(err, engine.ErrCancelled) {
		t.Fatalf("task error %+v, step error %+v", te, se)
	}
	cancelled, err := second.Wait(ctx, h.TaskID+1)
	must(t, err)
	if !errors.Is(cancelled.Err(), engine.ErrCancelled) || errors.Is(cancelled.Err(), engine.ErrStepFailed) {
		t.Fatalf("cancelled task: %v", cancelled.Err())
	}
	if _, err := second.Wait(ctx, 999); !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "task 999") || strings.Contains(err.Error(), "no rows") {
		t.Fatalf("Wait on a missing task: %v", err)
	}
}

func mustStart(t *testing.T, e *engine.Engine, name string, input any) int64 {
	t.Helper()
	h, err := e.Start(context.Background(), name, input)
	must(t, err)
	return h.TaskID
}

// A result over the payload limit fails its own step; the 99 other
// outcomes of the same commit are recorded. (RunOnce runs at most
// MaxConcurrency steps at once: room for the 100.)
func TestOversizedResultFailsOnlyItsStep(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{MaxPayloadBytes: 1024, Execution: engine.ExecutionConfig{MaxConcurrency: 100}}})
	oneStep(t, env.Engine, "emit", func(sc *engine.StepContext) (any, error) {
		var in struct{ N int }
		must(t, sc.Input(&in))
		if in.N == 42 {
			return strings.Repeat("x", 4096), nil
		}
		return in.N, nil
	}, engine.StepTemplate{})
	var ids []int64
	for n := range 100 {
		ids = append(ids, mustStart(t, env.Engine, "t/emit", map[string]int{"N": n}))
	}
	if n, err := env.RunOnce(ctx); err != nil || n != 100 {
		t.Fatalf("RunOnce ran %d: %v", n, err)
	}
	if st := env.Stats(); st.FinishTransactions != 1 {
		t.Fatalf("%d finish transactions: the outcomes were not one group", st.FinishTransactions)
	}
	complete := 0
	for i, id := range ids {
		d := env.Task(id)
		switch {
		case i == 42:
			out, err := env.Wait(ctx, id)
			must(t, err)
			var se *engine.StepError
			if d.Task.State != store.TaskError || !errors.As(out.Err(), &se) || se.Kind != engine.KindPayloadTooLarge ||
				!strings.Contains(se.Message, "4098 bytes") || !strings.Contains(se.Message, "1024") {
				t.Fatalf("oversized: task %s, %v", d.Task.State, out.Err())
			}
		case d.Task.State == store.TaskComplete:
			complete++
		}
	}
	if complete != 99 {
		t.Fatalf("%d of 99 normal tasks completed", complete)
	}
	// Inputs and event payloads are refused at the border.
	if _, err := env.Start(ctx, "t/emit", map[string]string{"pad": strings.Repeat("y", 2048)}); !errors.Is(err, engine.ErrPayloadTooLarge) {
		t.Fatalf("oversized input: %v", err)
	}
}

// An error whose message holds a NUL byte fails its step with that error,
// the NUL recorded as U+FFFD. The store refuses a NUL character, so its
// outcome could not be recorded ("recording step outcomes failed"), and
// the step ended "lease expired" instead of with its error. Code-first: a
// durable step's failure and the workflow's own error alike.
func TestNULInAnErrorIsRecorded(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	oneStep(t, env.Engine, "nul", func(sc *engine.StepContext) (any, error) {
		var in struct{ N int }
		must(t, sc.Input(&in))
		if in.N == 1 {
			return nil, engine.Permanent(errors.New("bad\x00thing"))
		}
		return in.N, nil
	}, engine.StepTemplate{})
	bad, good := mustStart(t, env.Engine, "t/nul", map[string]int{"N": 1}), mustStart(t, env.Engine, "t/nul", map[string]int{"N": 2})
	env.RunUntilDone(bad, good)
	if d := env.Task(good); d.Task.State != store.TaskComplete {
		t.Fatalf("the other step of the commit: task %s", d.Task.State)
	}
	out, err := env.Wait(ctx, bad)
	must(t, err)
	var se *engine.StepError
	if !errors.As(out.Err(), &se) || se.Kind != engine.KindPermanent || se.Message != "bad\ufffdthing" {
		t.Fatalf("failed step: %v", out.Err())
	}

	must(t, engine.RegisterWorkflow(env.Engine, "t/nulcode", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		_, err := engine.Step(wctx, "s", func(context.Context) (int, error) { return 0, errors.New("step\x00failed") }, engine.WithStepNoRetry())
		return 0, fmt.Errorf("workflow\x00failed after %w", err)
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/nulcode", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if _, err := h.Result(ctx); err == nil || !strings.Contains(err.Error(), "workflow\ufffdfailed after durable step s") || !strings.Contains(err.Error(), "step\ufffdfailed") {
		t.Fatalf("workflow result: %v", err)
	}
}

// A failure is recorded as the store reads JSON escapes: the text C:\u0000
// (a backslash, then u0000) in an error's message is no NUL and is kept;
// it was recorded as C:\ufffd, the engine replacing the bytes \u0000
// wherever they stood. A real NUL is still recorded as U+FFFD, and so is
// half a surrogate pair alone in a context value, which the store refuses
// too: it failed the commit carrying the outcome.
func TestErrorEscapesReadAsTheStoreReadsThem(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	oneStep(t, env.Engine, "escapes", func(*engine.StepContext) (any, error) {
		return nil, &engine.PermanentError{Err: errors.New(`C:\u0000 then bad` + "\x00"),
			Context: map[string]any{"path": `C:\u0000`, "half": json.RawMessage(`"\ud800"`)}}
	}, engine.StepTemplate{})
	id := mustStart(t, env.Engine, "t/escapes", nil)
	env.RunUntilDone(id)
	out, err := env.Wait(ctx, id)
	must(t, err)
	var se *engine.StepError
	if !errors.As(out.Err(), &se) || se.Kind != engine.KindPermanent {
		t.Fatalf("failed step: %v, want a permanent failure", out.Err())
	}
	if want := `C:\u0000 then bad` + "\ufffd"; se.Message != want {
		t.Fatalf("message %q, want %q", se.Message, want)
	}
	if se.Context["path"] != `C:\u0000` || se.Context["half"] != "\ufffd" {
		t.Fatalf("context %q, want the text C:\\u0000 kept and the half pair as U+FFFD", se.Context)
	}
}

// A result whose JSON holds a NUL character fails its step with a
// permanent error saying so. The store refuses it, so the outcome could not
// be recorded and the step ended "lease expired". A durable step's result
// and a workflow's own alike.
func TestNULInAResultFailsItsStep(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	oneStep(t, env.Engine, "nulresult", func(*engine.StepContext) (any, error) { return map[string]string{"v": "bad\x00"}, nil }, engine.StepTemplate{})
	id := mustStart(t, env.Engine, "t/nulresult", nil)
	env.RunUntilDone(id)
	out, err := env.Wait(ctx, id)
	must(t, err)
	const want = "encoding result of step only: it contains a NUL character"
	var se *engine.StepError
	if !errors.As(out.Err(), &se) || se.Kind != engine.KindPermanent || !strings.Contains(se.Message, want) {
		t.Fatalf("DAG step: %v, want a permanent failure saying %q", out.Err(), want)
	}
	must(t, engine.RegisterWorkflow(env.Engine, "t/nulcoderesult", func(wctx *engine.WorkflowContext, in int) (string, error) {
		if in == 1 {
			return "workflow\x00result", nil
		}
		return engine.Step(wctx, "s", func(context.Context) (string, error) { return "step\x00result", nil })
	}))
	for in, want := range map[int]string{1: "encoding result of step workflow: it contains a NUL character", 2: "encoding result of step s: it contains a NUL character"} {
		h, err := engine.StartWorkflow[int, string](ctx, env.Engine, "t/nulcoderesult", in)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		if _, err := h.Result(ctx); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("workflow %d: %v, want %q", in, err, want)
		}
	}
}

// The check reads escapes: a result holding the text C:\u0000 (a backslash,
// then u0000) is no NUL and completes, as the store takes it; it failed
// its step, the engine searching the bytes \u0000. Half a surrogate pair
// alone, which the store refuses, fails its step saying so, before the
// commit it would have failed with every other outcome in it.
func TestResultEscapesReadAsTheStoreReadsThem(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	oneStep(t, env.Engine, "path", func(*engine.StepContext) (any, error) { return `C:\u0000`, nil }, engine.StepTemplate{})
	id := mustStart(t, env.Engine, "t/path", nil)
	env.RunUntilDone(id)
	out, err := env.Wait(ctx, id)
	must(t, err)
	var got string
	if err := out.Decode("only", &got); err != nil || got != `C:\u0000` {
		t.Fatalf("result %q, %v (task %s, %v); want the text C:\\u0000", got, err, out.State, out.Err())
	}
	oneStep(t, env.Engine, "half", func(*engine.StepContext) (any, error) { return json.RawMessage(`"\ud800"`), nil }, engine.StepTemplate{})
	id = mustStart(t, env.Engine, "t/half", nil)
	env.RunUntilDone(id)
	out, err = env.Wait(ctx, id)
	must(t, err)
	const want = "encoding result of step only: it escapes half of a UTF-16 surrogate pair alone"
	var se *engine.StepError
	if !errors.As(out.Err(), &se) || se.Kind != engine.KindPermanent || !strings.Contains(se.Message, want) {
		t.Fatalf("lone surrogate: %v, want a permanent failure saying %q", out.Err(), want)
	}
}

// On SQLite a rolled-back InTx start frees its id for the next task; the
// handle from that start must not denote the other task.
func TestHandleNeverDenotesAnotherTask(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	oneStep(t, env.Engine, "noop", func(*engine.StepContext) (any, error) { return nil, nil }, engine.StepTemplate{})
	tx, err := env.Store.DB().BeginTx(ctx, nil)
	must(t, err)
	ghost, err := env.Start(ctx, "t/noop", map[string]int{"n": 1}, engine.InTx(tx))
	must(t, err)
	must(t, tx.Rollback())
	other, err := env.Start(ctx, "t/noop", map[string]int{"n": 2})
	must(t, err)
	if other.TaskID != ghost.TaskID {
		t.Skipf("the store did not reuse id %d (got %d): nothing to check", ghost.TaskID, other.TaskID)
	}
	env.RunUntilDone(other.TaskID)
	if _, err := ghost.Wait(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Wait through the rolled-back start's handle: %v, want ErrNotFound", err)
	}
	if out, err := other.Wait(ctx); err != nil || out.State != store.TaskComplete {
		t.Fatalf("the other task: %v", err)
	}
}

// Operators: resolving a running code-first driver is refused (its run
// produces the result); Cancel withdraws a finished task only with Force.
func TestOperatorGuards(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/wait", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		if _, err := engine.WaitEvent[int](wctx, "go", time.Hour); err != nil {
			return 0, err
		}
		return 1, nil
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/wait", 1)
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	err = env.Resolve(ctx, h.TaskID, engine.DriverStep, 5)
	if !errors.Is(err, engine.ErrRefused) {
		t.Fatalf("Resolve of the driver: %v, want ErrRefused", err)
	}
	if d := env.Task(h.TaskID); d.Step(engine.DriverStep).State == store.StepResolvedManually {
		t.Fatal("the refused Resolve changed the driver")
	}

	oneStep(t, env.Engine, "noop", func(*engine.StepContext) (any, error) { return nil, nil }, engine.StepTemplate{})
	done := mustStart(t, env.Engine, "t/noop", nil)
	env.RunUntilDone(done)
	if err := env.Cancel(ctx, done, "oops"); !errors.Is(err, store.ErrIllegalTransition) {
		t.Fatalf("Cancel of a complete task: %v", err)
	}
	must(t, env.Cancel(ctx, done, "withdrawn", engine.Force()))
	if d := env.Task(done); d.Task.State != store.TaskCancelled {
		t.Fatalf("forced cancel left the task %s", d.Task.State)
	}
}

// Stats count code-first durable steps like DAG steps.
func TestStatsCountDurableSteps(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	var calls atomic.Int32
	must(t, engine.RegisterWorkflow(env.Engine, "t/steps", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		for i := range 3 {
			if _, err := engine.Step(wctx, "s", func(context.Context) (int, error) {
				if calls.Add(1) == 1 {
					return 0, errors.New("flaky")
				}
				return i, nil
			}, engine.WithStepBackoff(retry.Policy{Base: time.Millisecond, Max: time.Millisecond})); err != nil {
				return 0, err
			}
		}
		return 0, nil
	}))
	before := env.Stats()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/steps", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	after := env.Stats()
	// 3 durable steps and the driver complete; one durable attempt retried.
	if got := after.StepsCompleted - before.StepsCompleted; got != 4 {
		t.Fatalf("StepsCompleted grew by %d, want 4 (3 durable steps and the driver)", got)
	}
	if got := after.StepsRetried - before.StepsRetried; got < 1 {
		t.Fatalf("StepsRetried grew by %d, want the durable retry counted", got)
	}
}

// typedErrorChildEnv makes the test binary a second process that waits
// for a task on a database and prints what errors.Is/As say of it.
const typedErrorChildEnv = "TASKER_TYPED_ERROR_CHILD"

func typedErrorChild() {
	path, id, _ := strings.Cut(os.Getenv(typedErrorChildEnv), "|")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	defer s.Close()
	e, err := engine.New(engine.Config{Store: s})
	if err != nil {
		fmt.Println("engine:", err)
		os.Exit(2)
	}
	taskID, _ := strconv.ParseInt(id, 10, 64)
	out, err := e.Wait(ctx, taskID)
	if err != nil {
		fmt.Println("wait:", err)
		os.Exit(2)
	}
	err = out.Err()
	var se *engine.StepError
	errors.As(err, &se)
	fmt.Printf("failed=%v cancelled=%v step=%s attempt=%d kind=%s code=%s message=%q\n",
		errors.Is(err, engine.ErrStepFailed), errors.Is(err, engine.ErrCancelled), se.Step, se.Attempt, se.Kind, se.Code, se.Message)
}

// The same in a second OS process: the error is read from the database.
func TestFailedTaskErrorIsTypedInAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	s, err := sqlite.Open(ctx, path, nil)
	must(t, err)
	defer s.Close()
	e := newEngine(t, engine.Config{Store: s})
	oneStep(t, e, "charge", func(*engine.StepContext) (any, error) {
		return nil, &engine.PermanentError{Err: errors.New("card declined"), Code: "declined"}
	}, engine.StepTemplate{})
	h, err := e.Start(ctx, "t/charge", nil)
	must(t, err)
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d", typedErrorChildEnv, path, h.TaskID))
	outb, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, outb)
	}
	want := `failed=true cancelled=false step=only attempt=1 kind=permanent code=declined message="declined: card declined"`
	if got := strings.TrimSpace(string(outb)); got != want {
		t.Fatalf("the other process saw\n%s\nwant\n%s", got, want)
	}
}
