package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A durable step given options that cannot mean what they say fails its
// workflow, naming the option, before the step runs: a nil option
// panicked, a retry limit below 1 became 3, WithStepNoRetry beside a limit
// ran once, a timeout of 10 (nanoseconds) timed every attempt out, a
// negative one meant none, a negative backoff was used, and a backoff
// beside WithStepNoRetry or WithStepRetryLimit(1) was accepted and did
// nothing. A dependent system's name is checked as a template step's
// (WithStepDependentSystem), and an empty one is refused. An option given
// twice with different values is refused, as a start's is: the later one
// won without a word.
func TestDurableStepOptionMistakesFailTheWorkflow(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []engine.StepOption
		want string
	}{
		{"nil", []engine.StepOption{nil}, "option 0 is nil"},
		{"limit 0", []engine.StepOption{engine.WithStepRetryLimit(0)}, "WithStepRetryLimit(0)"},
		{"limit past 32 bits", []engine.StepOption{engine.WithStepRetryLimit(store.MaxCount + 1)}, "WithStepRetryLimit(2147483648): a step makes at most 2147483647 attempts"},
		{"no retry, limit 3", []engine.StepOption{engine.WithStepNoRetry(), engine.WithStepRetryLimit(3)}, "WithStepNoRetry with WithStepRetryLimit(3)"},
		{"timeout 10ns", []engine.StepOption{engine.WithStepTimeout(10)}, "WithStepTimeout(10ns)"},
		{"negative timeout", []engine.StepOption{engine.WithStepTimeout(-time.Second)}, "WithStepTimeout(-1s)"},
		{"negative backoff", []engine.StepOption{engine.WithStepBackoff(retry.Policy{Base: -time.Second})}, "WithStepBackoff: retry base must not be negative"},
		{"no retry, backoff", []engine.StepOption{engine.WithStepNoRetry(), engine.WithStepBackoff(retry.Policy{Base: time.Second})}, "WithStepBackoff on a step that makes 1 attempt"},
		{"limit 1, backoff", []engine.StepOption{engine.WithStepRetryLimit(1), engine.WithStepBackoff(retry.Policy{NoJitter: true})}, "WithStepBackoff on a step that makes 1 attempt"},
		{"empty system", []engine.StepOption{engine.WithStepDependentSystem("")}, `WithStepDependentSystem(""): name the system`},
		{"system with NUL", []engine.StepOption{engine.WithStepDependentSystem("pay\x00")}, `WithStepDependentSystem: dependent system "pay\x00" contains a NUL byte`},
		{"system not UTF-8", []engine.StepOption{engine.WithStepDependentSystem("pay\xff")}, `WithStepDependentSystem: dependent system "pay\xff" is not valid UTF-8`},
		{"system padded", []engine.StepOption{engine.WithStepDependentSystem(" pay")}, `durable step s: WithStepDependentSystem: dependent system " pay" has spaces around it: write "pay"`},
		{"system blank", []engine.StepOption{engine.WithStepDependentSystem("  ")}, `WithStepDependentSystem: dependent system "  " is blank`},
		// Given twice with different values: the later one won silently.
		{"limit twice", []engine.StepOption{engine.WithStepRetryLimit(3), engine.WithStepRetryLimit(5)}, "WithStepRetryLimit given twice, with 3 and 5"},
		{"timeout twice", []engine.StepOption{engine.WithStepTimeout(time.Second), engine.WithStepTimeout(time.Minute)}, "WithStepTimeout given twice, with 1s and 1m0s"},
		{"backoff twice", []engine.StepOption{engine.WithStepBackoff(retry.Policy{Base: time.Second}), engine.WithStepBackoff(retry.Policy{Base: time.Minute})}, "WithStepBackoff given twice"},
		{"system twice", []engine.StepOption{engine.WithStepDependentSystem("pay"), engine.WithStepDependentSystem("ship")}, `WithStepDependentSystem given twice, with "pay" and "ship"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testkit.NewEngine(t, nil)
			var ran atomic.Int32
			must(t, engine.RegisterWorkflow(env.Engine, "t/opts", func(wctx *engine.WorkflowContext, _ int) (int, error) {
				return engine.Step(wctx, "s", func(context.Context) (int, error) { ran.Add(1); return 1, nil }, tc.opts...)
			}))
			h, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "t/opts", 1)
			must(t, err)
			env.RunUntilDone(h.TaskID)
			_, err = h.Result(context.Background())
			var te *engine.TaskError
			if !errors.As(err, &te) || te.State != store.TaskError || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("result error %v; want the task failed naming %q", err, tc.want)
			}
			if ran.Load() != 0 {
				t.Fatalf("the step ran %d times", ran.Load())
			}
		})
	}
	// Sound options still work.
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/ok", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.Step(wctx, "s", func(context.Context) (int, error) { return 1, nil },
			engine.WithStepRetryLimit(1), engine.WithStepNoRetry(), engine.WithStepTimeout(time.Second), engine.WithStepDependentSystem("payments"),
			engine.WithStepTimeout(time.Second), engine.WithStepRetryLimit(1)) // the same value twice is accepted
	}))
	h, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "t/ok", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if got, err := h.Result(context.Background()); err != nil || got != 1 {
		t.Fatalf("sound options: %d, %v", got, err)
	}
}

// A template step's Backoff{NoJitter: true} without delays of its own
// takes the engine's delays without jitter (it took the engine's policy
// whole, jitter included).
func TestStepNoJitterKeptWithTheEngineDelays(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Retry: retry.Policy{Base: time.Second, Max: time.Minute}}})
	must(t, env.HandleFunc("fails", func(*engine.StepContext) (any, error) { return nil, errors.New("not yet") }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "nojitter", Steps: []engine.StepTemplate{
		{Name: "s", Handler: "fails", Backoff: retry.Policy{NoJitter: true}}}}))
	ctx := context.Background()
	var ids []int64
	for i := range 5 {
		h, err := env.Start(ctx, "t/nojitter", map[string]int{"i": i})
		must(t, err)
		ids = append(ids, h.TaskID)
	}
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		st := env.Task(id).Steps[0]
		if got := st.NextAttemptAt.Sub(env.Clock.Now()); st.State != store.StepPending || got != time.Second {
			t.Fatalf("task %d: step %s, next attempt in %s; want pending, in exactly the engine's base of 1s", id, st.State, got)
		}
	}
}

// A durable step given a nil function (Step or Go) fails its workflow at
// once, naming the step, with a permanent error; it panicked in the
// attempt, was retried as a panic up to the step's limit, and failed as
// "retries exhausted: handler panicked: nil pointer dereference".
func TestDurableStepNilFunctionFailsTheWorkflow(t *testing.T) {
	for name, fn := range map[string]func(wctx *engine.WorkflowContext, _ int) (int, error){
		"Step": func(wctx *engine.WorkflowContext, _ int) (int, error) { return engine.Step[int](wctx, "s", nil) },
		"Go":   func(wctx *engine.WorkflowContext, _ int) (int, error) { return engine.Go[int](wctx, "s", nil).Get() },
	} {
		t.Run(name, func(t *testing.T) {
			env := testkit.NewEngine(t, nil)
			must(t, engine.RegisterWorkflow(env.Engine, "t/nilfn", fn))
			h, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "t/nilfn", 1)
			must(t, err)
			env.RunUntilDone(h.TaskID)
			_, err = h.Result(context.Background())
			var te *engine.TaskError
			if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || te.Failure.Attempt != 1 ||
				!strings.Contains(err.Error(), "durable step s: the function is nil") {
				t.Fatalf("result error %v (%+v); want the task failed at once naming the nil function", err, te)
			}
		})
	}
}

// A type JSON cannot carry (a func, a channel, a complex number) is
// refused where it is given: RegisterWorkflow's input or result, and a
// durable step's result before its function runs. The step ran, side
// effects and all, and then failed recording "json: unsupported type".
func TestUnencodableTypesRefusedBeforeAnythingRuns(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	err := engine.RegisterWorkflow(env.Engine, "t/fnout", func(*engine.WorkflowContext, int) (func(), error) { return nil, nil })
	if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), "its result type func() cannot be carried as JSON") {
		t.Fatalf("RegisterWorkflow with a func result: %v", err)
	}
	err = engine.RegisterWorkflow(env.Engine, "t/chanin", func(*engine.WorkflowContext, *chan int) (int, error) { return 0, nil })
	if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), "its input type chan int cannot be carried as JSON") {
		t.Fatalf("RegisterWorkflow with a channel input: %v", err)
	}
	ran := false
	must(t, engine.RegisterWorkflow(env.Engine, "t/complex", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		_, err := engine.Step(wctx, "c", func(context.Context) (complex128, error) { ran = true; return 1i, nil })
		return 0, err
	}))
	h, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "t/complex", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(context.Background())
	var te *engine.TaskError
	if ran || !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent ||
		!strings.Contains(err.Error(), "durable step c: its result type complex128 cannot be carried as JSON") {
		t.Fatalf("step function ran: %v; result error %v; want the task failed before it ran, naming the type", ran, err)
	}
}

// A durable operation whose name the store would refuse for its row
// (name#seq: at most store.MaxNameLen bytes, no NUL, valid UTF-8) fails its
// workflow at once, naming the call: a step's function ran, then the
// driver's commit was refused ("name: is 302 bytes long"), its lease
// expired and the step ran again, for ever. An empty step name (which a
// template step may not have either) is refused too.
func TestDurableNamesTheStoreWouldRefuseFailTheWorkflow(t *testing.T) {
	long := strings.Repeat("n", 250)
	for _, c := range []struct {
		name string
		fn   func(wctx *engine.WorkflowContext) error
		want string
	}{
		{"empty step", func(wctx *engine.WorkflowContext) error {
			_, err := engine.Step(wctx, "", func(context.Context) (int, error) { return 1, nil })
			return err
		}, "durable step name is required"},
		{"long step", func(wctx *engine.WorkflowContext) error {
			_, err := engine.Step(wctx, long, func(context.Context) (int, error) { return 1, nil })
			return err
		}, "is 250 bytes long; the limit for a durable operation is 243"},
		{"longer step", func(wctx *engine.WorkflowContext) error {
			_, err := engine.Step(wctx, long+long, func(context.Context) (int, error) { return 1, nil })
			return err
		}, "is 500 bytes long; the limit for a durable operation is 243"},
		{"long future", func(wctx *engine.WorkflowContext) error {
			_, err := engine.Go(wctx, long, func(context.Context) (int, error) { return 1, nil }).Get()
			return err
		}, "is 250 bytes long; the limit for a durable operation is 243"},
		{"NUL step", func(wctx *engine.WorkflowContext) error {
			_, err := engine.Step(wctx, "a\x00b", func(context.Context) (int, error) { return 1, nil })
			return err
		}, "contains a NUL byte"},
		{"long event", func(wctx *engine.WorkflowContext) error {
			_, err := engine.WaitEvent[int](wctx, long, time.Hour)
			return err
		}, "the event name is 250 bytes long; the limit is 243"},
		{"long update", func(wctx *engine.WorkflowContext) error {
			_, err := engine.ReceiveUpdate[int](wctx, long[:240], time.Hour)
			return err
		}, "the update name is 240 bytes long; the limit is 236"},
		{"long child", func(wctx *engine.WorkflowContext) error {
			_, err := engine.Child[map[string]int](wctx, long[:200]+"/"+long[:100], map[string]int{"i": 1})
			return err
		}, "is 301 bytes long; the limit for a durable operation is 243"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := testkit.NewEngine(t, nil)
			must(t, env.HandleFunc("noop", func(*engine.StepContext) (any, error) { return 1, nil }))
			must(t, env.Register(&engine.Template{Namespace: long[:200], Name: long[:100], Steps: []engine.StepTemplate{{Name: "a", Handler: "noop"}}}))
			must(t, engine.RegisterWorkflow(env.Engine, "t/names", func(wctx *engine.WorkflowContext, _ int) (int, error) {
				return 0, c.fn(wctx)
			}))
			h, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "t/names", 1)
			must(t, err)
			env.RunUntilDone(h.TaskID)
			_, err = h.Result(context.Background())
			var te *engine.TaskError
			if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("result error %v; want the workflow failed at once saying %q", err, c.want)
			}
			if steps := env.DurableSteps(h.TaskID); len(steps) != 0 {
				t.Fatalf("durable steps recorded: %v", steps)
			}
			if page, err := env.Store.ListTasks(context.Background(), &store.ListTasksParams{}); err != nil || len(page.Tasks) != 1 {
				t.Fatalf("tasks: %v, %v; want the workflow's alone (no child started)", page, err)
			}
		})
	}
}

// TestDurableOperationInsideAStepFailsTheWorkflow: a durable operation
// called inside a durable step's function (engine.Step within engine.Step)
// fails the workflow at once, naming both. The inner step took the next
// sequence number and was recorded; a later run, replaying the outer
// step's record without calling its function, found the inner step's row
// where the workflow's next operation stood, and failed as not
// deterministic, far from the mistake.
func TestDurableOperationInsideAStepFailsTheWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/nested", func(wctx *engine.WorkflowContext, in int) (int, error) {
		v, err := engine.Step(wctx, "outer", func(ctx context.Context) (int, error) {
			return engine.Step(wctx, "inner", func(ctx context.Context) (int, error) { return in, nil })
		})
		if err != nil {
			return 0, err
		}
		if err := engine.Sleep(wctx, time.Hour); err != nil {
			return 0, err
		}
		return engine.Step(wctx, "after", func(ctx context.Context) (int, error) { return v + 1, nil })
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/nestedversion", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.Step(wctx, "outer", func(ctx context.Context) (int, error) {
			return engine.Version(wctx, "change", engine.DefaultVersion, 1), nil
		})
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/nestedcontinue", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in > 1 {
			return in, nil
		}
		return engine.Step(wctx, "outer", func(ctx context.Context) (int, error) {
			return 0, engine.ContinueAsNew(wctx, in+1)
		})
	}))
	for wf, want := range map[string]string{
		"t/nested":         `step "inner" called inside the function of durable step "outer"`,
		"t/nestedversion":  `engine.Version("change") called inside the function of durable step "outer"`,
		"t/nestedcontinue": `engine.ContinueAsNew called inside the function of durable step "outer"`,
	} {
		h, err := engine.StartWorkflow[int, int](ctx, env.Engine, wf, 1)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want the workflow failed at once saying %s", wf, err, want)
		}
	}
}

// TestWaitForAPayloadTypeJSONCannotCarryFailsTheWorkflow: WaitEvent,
// ReceiveUpdate, OnEvent and OnUpdate with a payload type JSON cannot carry
// (a func, a channel) fail the workflow at once, naming the type, as Step
// refuses such a result type: the wait was recorded and waited for, the
// event consumed when it came, and only then did its payload fail to
// decode.
func TestWaitForAPayloadTypeJSONCannotCarryFailsTheWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	for wf, c := range map[string]struct {
		fn   func(wctx *engine.WorkflowContext) error
		want string
	}{
		"t/waitfunc": {func(wctx *engine.WorkflowContext) error {
			_, err := engine.WaitEvent[func()](wctx, "go", time.Hour)
			return err
		}, `engine.WaitEvent("go", 1h0m0s): its payload type func() cannot be carried as JSON`},
		"t/receivechan": {func(wctx *engine.WorkflowContext) error {
			_, err := engine.ReceiveUpdate[chan int](wctx, "bump", time.Hour)
			return err
		}, `engine.ReceiveUpdate("bump", 1h0m0s): its payload type chan int cannot be carried as JSON`},
		"t/selectfunc": {func(wctx *engine.WorkflowContext) error {
			var f func()
			_, err := engine.Select(wctx, engine.OnEvent("go", &f))
			return err
		}, `engine.Select: case 0, OnEvent("go"): its payload type func() cannot be carried as JSON`},
		"t/selectupdate": {func(wctx *engine.WorkflowContext) error {
			var req *engine.UpdateRequest[*complex64]
			_, err := engine.Select(wctx, engine.OnUpdate("bump", &req))
			return err
		}, `engine.Select: case 0, OnUpdate("bump"): its payload type complex64 cannot be carried as JSON`},
	} {
		must(t, engine.RegisterWorkflow(env.Engine, wf, func(wctx *engine.WorkflowContext, _ int) (int, error) {
			return 0, c.fn(wctx)
		}))
		h, err := engine.StartWorkflow[int, int](ctx, env.Engine, wf, 1)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want the workflow failed at once saying %s", wf, err, c.want)
		}
		if steps := env.DurableSteps(h.TaskID); len(steps) != 0 {
			t.Errorf("%s: durable steps recorded: %+v", wf, steps)
		}
	}
}

type panickyResult struct{}

func (panickyResult) MarshalJSON() ([]byte, error) { panic("boom") }

// TestStepResultWhoseEncodingPanicsFailsTheStepOnce: a durable step whose
// result's MarshalJSON panics fails for good after its one attempt, the
// error saying so: the panic failed the driver's run instead, before the
// step was recorded, and every run of the driver (ten) ran the step's
// function again.
func TestStepResultWhoseEncodingPanicsFailsTheStepOnce(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	var ran atomic.Int32
	must(t, engine.RegisterWorkflow(env.Engine, "t/panicky", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		_, err := engine.Step(wctx, "s", func(context.Context) (panickyResult, error) { ran.Add(1); return panickyResult{}, nil })
		return 0, err
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/panicky", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(ctx)
	want := "encoding result of step s: its MarshalJSON panicked: boom"
	if !errors.Is(err, engine.ErrStepFailed) || !strings.Contains(err.Error(), want) || ran.Load() != 1 {
		t.Fatalf("step ran %d times, result error %v; want once, the step failed saying %q", ran.Load(), err, want)
	}
}

// TestResultWhoseEncodingPanicsFailsTheStep: a DAG handler's or a workflow
// function's result whose MarshalJSON panics fails its step for good after
// the one attempt, the error saying so, as a durable step's does. The panic
// was in the worker's goroutine, outside any recover: it crashed the
// process.
func TestResultWhoseEncodingPanicsFailsTheStep(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, env.HandleFunc("panicky", func(*engine.StepContext) (any, error) { return panickyResult{}, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "panickydag", Steps: []engine.StepTemplate{{Name: "a", Handler: "panicky"}}}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/panickyreturn", func(wctx *engine.WorkflowContext, _ int) (panickyResult, error) {
		return panickyResult{}, nil
	}))
	dag, err := env.Start(ctx, "t/panickydag", nil)
	must(t, err)
	wf, err := engine.StartWorkflow[int, panickyResult](ctx, env.Engine, "t/panickyreturn", 1)
	must(t, err)
	env.RunUntilDone(dag.TaskID, wf.TaskID)
	for id, step := range map[int64]string{dag.TaskID: "a", wf.TaskID: engine.DriverStep} {
		s := env.Task(id).Step(step)
		want := "encoding result of step " + step + ": its MarshalJSON panicked: boom"
		if s.State != store.StepError || s.Attempts != 1 || !strings.Contains(string(s.LastError), want) || !strings.Contains(string(s.LastError), `"kind":"permanent"`) {
			t.Errorf("task %d step %s: %s after %d attempts, last error %s; want failed for good after 1 saying %q", id, step, s.State, s.Attempts, s.LastError, want)
		}
	}
}
