package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

type renewIn struct {
	Customer string `json:"customer"`
	Amount   int    `json:"amount"`
}

type receipt struct {
	Charge string `json:"charge"`
	Total  int    `json:"total"`
}

// calls counts executions per step name.
type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *calls) inc(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[name]++
}

func (c *calls) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

func TestWorkflowStepsSleepAndResult(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Retry: retryFast}})
	var c calls
	must(t, engine.RegisterWorkflow(env.Engine, "billing/renew", func(wctx *engine.WorkflowContext, in renewIn) (receipt, error) {
		total := 0
		for i := range 3 { // a loop: three durable steps of the same name
			v, err := engine.Step(wctx, "add", func(ctx context.Context) (int, error) {
				c.inc("add")
				info, _ := engine.StepInfoFrom(ctx)
				if info.Sequence != i+1 || info.IdempotencyKey != fmt.Sprintf("%d:%d:add", wctx.TaskID, i+1) {
					return 0, engine.Permanent(fmt.Errorf("step info %+v", info))
				}
				return in.Amount, nil
			})
			if err != nil {
				return receipt{}, err
			}
			total += v
		}
		if err := engine.Sleep(wctx, 24*time.Hour); err != nil {
			return receipt{}, err
		}
		ch, err := engine.Step(wctx, "charge", func(ctx context.Context) (string, error) {
			c.inc("charge")
			return "ch_" + in.Customer, nil
		})
		if err != nil {
			return receipt{}, err
		}
		return receipt{Charge: ch, Total: total}, nil
	}))
	ctx := context.Background()
	start := env.Clock.Now()
	h, err := engine.StartWorkflow[renewIn, receipt](ctx, env.Engine, "billing/renew", renewIn{Customer: "c1", Amount: 5})
	must(t, err)
	again, err := engine.StartWorkflow[renewIn, receipt](ctx, env.Engine, "billing/renew", renewIn{Customer: "c1", Amount: 5})
	must(t, err)
	if !again.Existing || again.TaskID != h.TaskID {
		t.Fatalf("same input started a second task: %+v", again)
	}
	env.RunUntilDone(h.TaskID)
	got, err := h.Result(ctx)
	must(t, err)
	if got != (receipt{Charge: "ch_c1", Total: 15}) {
		t.Fatalf("result = %+v", got)
	}
	if c.get("add") != 3 || c.get("charge") != 1 {
		t.Fatalf("executions: %v", c.n)
	}
	if slept := env.Clock.Now().Sub(start); slept < 24*time.Hour {
		t.Fatalf("clock moved %s, want the 24h sleep skipped", slept)
	}
	want := []string{"1 step add complete 1", "2 step add complete 1", "3 step add complete 1", "4 sleep sleep complete 1", "5 step charge complete 1"}
	if got := describeDurable(env.DurableSteps(h.TaskID)); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("durable steps:\n got  %q\n want %q", got, want)
	}
	// The driver suspended once (the sleep) without spending an attempt.
	if d := env.Task(h.TaskID).Step(engine.DriverStep); d.Attempts != 1 || d.State != store.StepComplete {
		t.Fatalf("driver = %s after %d attempts", d.State, d.Attempts)
	}
	testkit.Replay(t, env.Engine, h.TaskID)
}

func describeDurable(steps []testkit.DurableStep) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = fmt.Sprintf("%d %s %s %s %d", s.Sequence, s.Kind, s.Name, s.State, s.Attempts)
	}
	return out
}

func TestWorkflowStepRetriesAndFailure(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Retry: retryFast}})
	var c calls
	must(t, engine.RegisterWorkflow(env.Engine, "t/retry", func(wctx *engine.WorkflowContext, in struct{ FailFor int }) (int, error) {
		v, err := engine.Step(wctx, "flaky", func(ctx context.Context) (int, error) {
			c.inc("flaky")
			info, _ := engine.StepInfoFrom(ctx)
			if info.Attempt <= in.FailFor {
				return 0, errors.New("flaky")
			}
			return info.Attempt, nil
		}, engine.WithStepRetryLimit(3), engine.WithStepBackoff(retry.Policy{Base: time.Minute, Max: time.Minute}))
		if err != nil {
			return 0, err
		}
		_, err = engine.Step(wctx, "after", func(ctx context.Context) (int, error) { c.inc("after"); return 1, nil })
		return v, err
	}))
	ctx := context.Background()
	ok, err := engine.StartWorkflow[struct{ FailFor int }, int](ctx, env.Engine, "t/retry", struct{ FailFor int }{2})
	must(t, err)
	env.RunUntilDone(ok.TaskID)
	if v, err := ok.Result(ctx); err != nil || v != 3 {
		t.Fatalf("result = %d, %v", v, err)
	}
	if got := describeDurable(env.DurableSteps(ok.TaskID)); got[0] != "1 step flaky complete 3" || got[1] != "2 step after complete 1" {
		t.Fatalf("durable steps %q", got)
	}
	env.AssertStepHistory(ok.TaskID, "flaky#1", "pending → in_progress", "in_progress → pending", "pending → in_progress", "in_progress → pending", "pending → in_progress", "in_progress → complete")

	bad, err := engine.StartWorkflow[struct{ FailFor int }, int](ctx, env.Engine, "t/retry", struct{ FailFor int }{5})
	must(t, err)
	env.RunUntilDone(bad.TaskID)
	_, err = bad.Result(ctx)
	var te *engine.TaskError
	var se *engine.StepError
	if !errors.As(err, &te) || te.State != store.TaskError || !errors.Is(err, engine.ErrStepFailed) || !errors.As(err, &se) ||
		se.Step != "flaky" || se.Sequence != 1 || se.Kind != engine.KindExhausted || se.Attempt != 3 {
		t.Fatalf("exhausted step: %v (%+v)", err, se)
	}
	if c.get("after") != 1 {
		t.Fatalf("a step after the failed one ran: %v", c.n)
	}
	// An operator retry gives the failed step fresh attempts; the recorded
	// steps before it do not run again.
	must(t, env.Retry(ctx, bad.TaskID))
	env.RunUntilDone(bad.TaskID)
	if st := env.Task(bad.TaskID).Task.State; st != store.TaskError {
		t.Fatalf("retried task = %s", st)
	}
}

func TestWorkflowNonDeterminism(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	second := "reserve"
	register := func() {
		must(t, engine.RegisterWorkflow(env.Engine, "t/nd", func(wctx *engine.WorkflowContext, in struct{}) (string, error) {
			if _, err := engine.Step(wctx, "charge", func(ctx context.Context) (int, error) { return 1, nil }); err != nil {
				return "", err
			}
			if _, err := engine.Step(wctx, second, func(ctx context.Context) (int, error) { return 2, nil }); err != nil {
				return "", err
			}
			if err := engine.Sleep(wctx, time.Hour); err != nil {
				return "", err
			}
			return "done", nil
		}))
	}
	register()
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, string](ctx, env.Engine, "t/nd", struct{}{})
	must(t, err)
	if _, err := env.RunOnce(ctx); err != nil { // runs to the sleep and suspends
		t.Fatal(err)
	}
	if n := len(env.DurableSteps(h.TaskID)); n != 3 {
		t.Fatalf("recorded %d durable steps before the sleep, want 3", n)
	}
	testkit.Replay(t, env.Engine, h.TaskID) // the same code replays cleanly

	second = "ship" // a deploy renames the second step
	err = env.Replay(ctx, h.TaskID)
	var nd *engine.NonDeterminismError
	if !errors.As(err, &nd) || !errors.Is(err, engine.ErrNonDeterministic) || nd.Sequence != 2 || nd.Recorded != `step "reserve"` || nd.New != `step "ship"` {
		t.Fatalf("Replay = %v (%+v)", err, nd)
	}
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(ctx)
	var te *engine.TaskError
	if !errors.As(err, &te) || te.State != store.TaskError || !errors.Is(err, engine.ErrNonDeterministic) || te.Failure.Sequence != 2 {
		t.Fatalf("result after a renamed step: %v", err)
	}
	for _, want := range []string{"sequence 2", `"reserve"`, `"ship"`, "not deterministic"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %s does not mention %s", err, want)
		}
	}
	// Never retried: a non-determinism error is permanent.
	if d := env.Task(h.TaskID).Step(engine.DriverStep); d.Attempts != 1 {
		t.Fatalf("driver attempts = %d, want 1: suspensions spend no attempt", d.Attempts)
	}
}

// TestWorkflowReplayRefusesWhatTheCodeNoLongerReads: a replay fails when
// the code would fail the workflow on resume — a step's recorded result or
// the input that no longer decodes as the type the code asks for now. Such
// replays returned nil (a "valid prefix") and the deploy they vetted failed
// every resumed workflow.
func TestWorkflowReplayRefusesWhatTheCodeNoLongerReads(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	asText := false
	must(t, engine.RegisterWorkflow(env.Engine, "t/types", func(wctx *engine.WorkflowContext, in renewIn) (int, error) {
		if asText { // a deploy changes the step's result type
			s, err := engine.Step(wctx, "total", func(ctx context.Context) (string, error) { return "42", nil })
			return len(s), err
		}
		return engine.Step(wctx, "total", func(ctx context.Context) (int, error) { return in.Amount, nil })
	}))
	h, err := engine.StartWorkflow[renewIn, int](ctx, env.Engine, "t/types", renewIn{Customer: "c", Amount: 42})
	must(t, err)
	env.RunUntilDone(h.TaskID)
	testkit.Replay(t, env.Engine, h.TaskID) // the same code replays cleanly

	asText = true
	err = env.Replay(ctx, h.TaskID)
	if err == nil || !strings.Contains(err.Error(), "decoding the recorded result of step total (sequence 1)") {
		t.Fatalf("Replay with the step's result type changed = %v", err)
	}

	// Another build takes the input as a string.
	other := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(other.Engine, "t/types", func(wctx *engine.WorkflowContext, in string) (int, error) {
		return engine.Step(wctx, "total", func(ctx context.Context) (int, error) { return len(in), nil })
	}))
	hist, err := env.WorkflowHistory(ctx, h.TaskID)
	must(t, err)
	err = other.ReplayHistory(ctx, hist)
	if err == nil || !strings.Contains(err.Error(), "decoding input of workflow t/types") {
		t.Fatalf("ReplayHistory with the input type changed = %v", err)
	}
	if err := other.ReplayHistory(ctx, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("ReplayHistory(nil) = %v, want store.ErrInvalid", err)
	}
}

// TestWorkflowReplayRefusesCodeThatReturnsEarly: code that returns an
// error where the history goes on (it gives up after a step the recorded
// run went past) is not deterministic. Replay returned nil, a "valid
// prefix", and the deploy it vetted failed the resumed workflows there.
func TestWorkflowReplayRefusesCodeThatReturnsEarly(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	early := false
	must(t, engine.RegisterWorkflow(env.Engine, "t/early", func(wctx *engine.WorkflowContext, in int) (int, error) {
		a, err := engine.Step(wctx, "a", func(ctx context.Context) (int, error) { return in, nil })
		if err != nil {
			return 0, err
		}
		if early { // a deploy gives up after the first step
			return 0, errors.New("no second step")
		}
		return engine.Step(wctx, "b", func(ctx context.Context) (int, error) { return a + 1, nil })
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/early", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	testkit.Replay(t, env.Engine, h.TaskID) // the same code replays cleanly

	early = true
	err = env.Replay(ctx, h.TaskID)
	var nd *engine.NonDeterminismError
	if !errors.As(err, &nd) || nd.Sequence != 2 || nd.Recorded != `step "b"` || nd.New != "" || !strings.Contains(err.Error(), "no second step") {
		t.Fatalf("Replay of code returning an error before the history ends = %v (%+v)", err, nd)
	}

	// Code that gives up because the replay's context ended is no verdict
	// on the code: the context's error, not non-determinism.
	must(t, engine.RegisterWorkflow(env.Engine, "t/patient", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if _, err := engine.Step(wctx, "a", func(ctx context.Context) (int, error) { return in, nil }); err != nil {
			return 0, err
		}
		if err := wctx.Err(); err != nil {
			return 0, err
		}
		return engine.Step(wctx, "b", func(ctx context.Context) (int, error) { return in, nil })
	}))
	p, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/patient", 1)
	must(t, err)
	env.RunUntilDone(p.TaskID)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	hist, err := env.WorkflowHistory(ctx, p.TaskID)
	must(t, err)
	if err := env.ReplayHistory(cancelled, hist); !errors.Is(err, context.Canceled) || errors.Is(err, engine.ErrNonDeterministic) {
		t.Fatalf("Replay under a cancelled context = %v; want context.Canceled", err)
	}
}

func TestWorkflowEvents(t *testing.T) {
	type approval struct {
		By string `json:"by"`
	}
	env := testkit.NewEngine(t, nil)
	var after atomic.Int64
	must(t, engine.RegisterWorkflow(env.Engine, "t/approve", func(wctx *engine.WorkflowContext, in struct{ ID int }) (string, error) {
		a, err := engine.WaitEvent[approval](wctx, "approval", 72*time.Hour)
		if errors.Is(err, engine.ErrEventTimeout) {
			_, err = engine.Step(wctx, "refund", func(ctx context.Context) (string, error) { return "refunded", nil })
			return "timeout", err
		}
		if err != nil {
			return "", err
		}
		if _, err := engine.Step(wctx, "settle", func(ctx context.Context) (int, error) { after.Add(1); return 1, nil }); err != nil {
			return "", err
		}
		return "approved by " + a.By, nil
	}))
	ctx := context.Background()
	start := func(id int) *engine.WorkflowHandle[string] {
		h, err := engine.StartWorkflow[struct{ ID int }, string](ctx, env.Engine, "t/approve", struct{ ID int }{id})
		must(t, err)
		return h
	}
	result := func(h *engine.WorkflowHandle[string]) string {
		v, err := h.Result(ctx)
		must(t, err)
		return v
	}

	t.Run("before the wait", func(t *testing.T) {
		h := start(1)
		if !env.SendEvent(h.TaskID, "approval", "k1", approval{By: "ann"}) {
			t.Fatal("first send was not new")
		}
		env.RunUntilDone(h.TaskID)
		if got := result(h); got != "approved by ann" {
			t.Fatalf("result %q", got)
		}
	})
	t.Run("during the wait", func(t *testing.T) {
		h := start(2)
		t0 := env.Clock.Now()
		env.RunFor(time.Hour) // reaches the wait and suspends
		if d := env.Task(h.TaskID).Step(engine.DriverStep); d.State != store.StepPending || !d.NextAttemptAt.After(env.Clock.Now()) {
			t.Fatalf("driver while waiting: %s until %s", d.State, d.NextAttemptAt)
		}
		env.SendEvent(h.TaskID, "approval", "k1", approval{By: "bob"})
		if d := env.Task(h.TaskID).Step(engine.DriverStep); d.NextAttemptAt.After(env.Clock.Now()) {
			t.Fatalf("sending the event did not wake the driver: next attempt %s", d.NextAttemptAt)
		}
		env.RunUntilDone(h.TaskID)
		if got := result(h); got != "approved by bob" {
			t.Fatalf("result %q", got)
		}
		if waited := env.Clock.Now().Sub(t0); waited > 2*time.Hour {
			t.Fatalf("the workflow resumed only after %s", waited)
		}
	})
	t.Run("twice with the same key", func(t *testing.T) {
		h := start(3)
		env.SendEvent(h.TaskID, "approval", "same", approval{By: "cy"})
		if env.SendEvent(h.TaskID, "approval", "same", approval{By: "dee"}) {
			t.Fatal("a repeated key made a new event")
		}
		before := after.Load()
		env.RunUntilDone(h.TaskID)
		if got := result(h); got != "approved by cy" || after.Load() != before+1 {
			t.Fatalf("result %q, settle ran %d times", got, after.Load()-before)
		}
	})
	t.Run("refused for finished workflows and DAG tasks", func(t *testing.T) {
		h := start(5)
		env.SendEvent(h.TaskID, "approval", "k", approval{By: "eve"})
		env.RunUntilDone(h.TaskID)
		if _, err := env.Engine.SendEvent(ctx, h.TaskID, "approval", "late", approval{By: "fay"}); !errors.Is(err, engine.ErrEventRefused) {
			t.Fatalf("event to a complete workflow: %v", err)
		}
		must(t, env.HandleFunc("noop", func(*engine.StepContext) (any, error) { return nil, nil }))
		must(t, env.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{{Name: "a", Handler: "noop"}}}))
		d, err := env.Start(ctx, "t/dag", nil)
		must(t, err)
		if _, err := env.Engine.SendEvent(ctx, d.TaskID, "approval", "", nil); !errors.Is(err, engine.ErrEventRefused) {
			t.Fatalf("event to a DAG task: %v", err)
		}
	})
	t.Run("never: the timeout", func(t *testing.T) {
		h := start(4)
		t0 := env.Clock.Now()
		env.RunUntilDone(h.TaskID)
		if got := result(h); got != "timeout" {
			t.Fatalf("result %q", got)
		}
		if waited := env.Clock.Now().Sub(t0); waited < 72*time.Hour {
			t.Fatalf("timed out after %s, want 72h", waited)
		}
		// The timeout is recorded: a replay sees it, and a late event is
		// refused and changes nothing.
		if _, err := env.Engine.SendEvent(ctx, h.TaskID, "approval", "late", approval{By: "late"}); !errors.Is(err, engine.ErrEventRefused) {
			t.Fatalf("late event: %v", err)
		}
		testkit.Replay(t, env.Engine, h.TaskID)
		if got := describeDurable(env.DurableSteps(h.TaskID)); len(got) != 2 || got[0] != "1 event approval complete 1" || got[1] != "2 step refund complete 1" {
			t.Fatalf("durable steps %q", got)
		}
	})
}

func TestWorkflowParallelSteps(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	var c calls
	must(t, engine.RegisterWorkflow(env.Engine, "t/fanout", func(wctx *engine.WorkflowContext, in struct{}) ([]int, error) {
		var fs []*engine.Future[int]
		for i := range 4 {
			fs = append(fs, engine.Go(wctx, fmt.Sprintf("part%d", i), func(ctx context.Context) (int, error) {
				c.inc("part")
				time.Sleep(time.Duration(4-i) * time.Millisecond) // finish in reverse order
				return i * i, nil
			}))
		}
		parts, err := engine.All(fs...)
		if err != nil {
			return nil, err
		}
		if err := engine.Sleep(wctx, time.Minute); err != nil {
			return nil, err
		}
		return parts, nil
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, []int](ctx, env.Engine, "t/fanout", struct{}{})
	must(t, err)
	env.RunUntilDone(h.TaskID)
	got, err := h.Result(ctx)
	must(t, err)
	if fmt.Sprint(got) != "[0 1 4 9]" || c.get("part") != 4 {
		t.Fatalf("result %v after %d executions", got, c.get("part"))
	}
	steps := env.DurableSteps(h.TaskID)
	for i, s := range steps[:4] {
		if s.Sequence != i+1 || s.Name != fmt.Sprintf("part%d", i) {
			t.Fatalf("futures are not numbered in call order: %+v", steps)
		}
	}
}

// TestWorkflowAllRefusesANilFuture: a slice of futures with a hole (an
// index skipped when filling it) fails the workflow at once with the
// index. It panicked in All, and the driver retried the panic until its
// attempts ran out.
func TestWorkflowAllRefusesANilFuture(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/holes", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		fs := make([]*engine.Future[int], 3)
		for i := range fs {
			if i == 1 {
				continue // the mistake: fs[1] stays nil
			}
			fs[i] = engine.Go(wctx, fmt.Sprintf("part%d", i), func(ctx context.Context) (int, error) { return i, nil })
		}
		parts, err := engine.All(fs...)
		return len(parts), err
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, "t/holes", struct{}{})
	must(t, err)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(ctx)
	if err == nil || !strings.Contains(err.Error(), "engine.All: future 1 (counting from 0) is nil") {
		t.Fatalf("result of All over a nil future = %v", err)
	}
	if d := env.Task(h.TaskID).Step(engine.DriverStep); d.Attempts != 1 {
		t.Fatalf("driver attempts = %d, want 1: the mistake is permanent", d.Attempts)
	}
	var nilFuture *engine.Future[int]
	if _, err := nilFuture.Get(); err == nil || !strings.Contains(err.Error(), "the future is nil") {
		t.Fatalf("Get of a nil future = %v", err)
	}
}

func TestWorkflowTimeoutAndCancel(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/slow", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		if err := engine.Sleep(wctx, 48*time.Hour); err != nil {
			return 0, err
		}
		return 1, nil
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, "t/slow", struct{}{}, engine.WithWorkflowTimeout(time.Hour))
	must(t, err)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(ctx)
	if !errors.Is(err, engine.ErrWorkflowTimeout) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("result = %v", err)
	}
	if d := env.Clock.Now().Sub(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)); d > 2*time.Hour {
		t.Fatalf("the timeout fired after %s", d)
	}

	// Cancelling a running workflow cancels its running step's context.
	started := make(chan struct{})
	stepErr := make(chan error, 1)
	must(t, engine.RegisterWorkflow(env.Engine, "t/block", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		return engine.Step(wctx, "block", func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			stepErr <- ctx.Err()
			return 0, ctx.Err()
		})
	}))
	hb, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, "t/block", struct{}{})
	must(t, err)
	done := make(chan error, 1)
	go func() { _, err := env.RunOnce(ctx); done <- err }()
	<-started
	must(t, env.Cancel(ctx, hb.TaskID, "test"))
	if err := <-stepErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("step context: %v", err)
	}
	must(t, <-done)
	if got := env.DurableSteps(hb.TaskID); len(got) != 0 {
		t.Fatalf("a cancelled step was recorded: %+v", got)
	}
	if st := env.Task(hb.TaskID).Task.State; st != store.TaskCancelled {
		t.Fatalf("task = %s", st)
	}
}

func TestWorkflowUnknownAndBadNames(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	if err := engine.RegisterWorkflow(env.Engine, "noslash", func(*engine.WorkflowContext, struct{}) (int, error) { return 0, nil }); err == nil {
		t.Fatal("registered a workflow without a namespace")
	}
	_, err := engine.StartWorkflow[struct{}, int](context.Background(), env.Engine, "no/such", struct{}{})
	if !errors.Is(err, engine.ErrUnknownWorkflow) {
		t.Fatalf("start unknown: %v", err)
	}
}

// TestReplayHistoryRefusesStepsItCannotRead: ReplayHistory refuses a saved
// history whose step has a kind or a state no history holds, or no name
// (store.ErrInvalid naming the sequence and the value). An unknown kind
// (a hand-edited "Step") was reported as non-determinism in contradictory
// words (`sequence 1 is step "a" ... but the code now calls step "a"`),
// an unknown state replayed as nil, as if the history ended there, and an
// empty name as a renamed step.
func TestReplayHistoryRefusesStepsItCannotRead(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/saved", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.Step(wctx, "a", func(ctx context.Context) (int, error) { return in, nil })
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/saved", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	for _, c := range []struct {
		edit func(*engine.HistoryStep)
		want string
	}{
		{func(s *engine.HistoryStep) { s.Kind = "Step" }, `sequence 1: kind "Step" is none a history holds`},
		{func(s *engine.HistoryStep) { s.State = "done" }, `sequence 1: state "done" is not a step's`},
		{func(s *engine.HistoryStep) { s.Name = "" }, `sequence 1: the name is empty`},
	} {
		hist, err := env.WorkflowHistory(ctx, h.TaskID)
		must(t, err)
		must(t, env.ReplayHistory(ctx, hist))
		c.edit(&hist.Steps[0])
		if err := env.ReplayHistory(ctx, hist); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReplayHistory = %v; want store.ErrInvalid saying %s", err, c.want)
		}
	}
}
