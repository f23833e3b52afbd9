package testkit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// fatalOf runs f with a fatalT and returns the message of the Fatalf that
// stopped it ("" when none did).
func fatalOf(t *testing.T, f func(ft *fatalT)) string {
	t.Helper()
	ft := &fatalT{TB: t}
	func() {
		defer func() { _ = recover() }()
		f(ft)
	}()
	return ft.msg
}

// Mistakes in using the kit fail the test where they are made, naming
// them. Before, each passed quietly: RunUntilDone() ran one round and
// returned, AssertStepHistory of a misspelt step compared an empty history,
// RunFor(-d) set the clock back, a Config.Store or Clock (or, for
// CrashEach, WorkerID) was replaced without a word, RunStep ran a nil handler (a nil-pointer PanicError) and
// handed invalid raw JSON to the handler.
func TestKitRefusesMistakes(t *testing.T) {
	ok := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return 1, nil })
	newEnv := func(ft *fatalT) *testkit.Env {
		env := testkit.NewEngine(ft, nil)
		must(t, env.Handle("ok", ok))
		must(t, env.Register(&engine.Template{Namespace: "t", Name: "one", Steps: []engine.StepTemplate{{Name: "charge", Handler: "ok"}}}))
		return env
	}
	for _, c := range []struct {
		name, want string
		f          func(ft *fatalT)
	}{
		{"RunUntilDone without ids", "testkit: RunUntilDone needs the ids of the tasks", func(ft *fatalT) { newEnv(ft).RunUntilDone() }},
		{"AssertStepHistory of a step the task lacks", `testkit: task 1 has no step "chrage" (steps: charge)`, func(ft *fatalT) {
			env := newEnv(ft)
			h, err := env.Start(t.Context(), "t/one", nil)
			must(t, err)
			env.RunUntilDone(h.TaskID)
			env.AssertStepHistory(h.TaskID, "chrage")
		}},
		{"RunFor backwards", "testkit: RunFor(-1h0m0s): the clock does not run backwards", func(ft *fatalT) { newEnv(ft).RunFor(-time.Hour) }},
		// A bare number is nanoseconds: RunFor(30) (meant 30 s) moved the
		// clock 30 ns, and a workflow waiting 30 s was still waiting.
		{"RunFor nanoseconds", "testkit: RunFor(30ns): under a millisecond", func(ft *fatalT) { newEnv(ft).RunFor(30) }},
		{"Config.Clock set", "testkit: Options.Config.Store and Clock are testkit's own", func(ft *fatalT) {
			testkit.NewEngine(ft, &testkit.Options{Config: engine.Config{Clock: testkit.NewEngine(t, nil).Clock}})
		}},
		{"CrashEach Config.WorkerID set", "testkit.CrashEach: Config.Store, Clock and WorkerID are CrashEach's own", func(ft *fatalT) {
			testkit.CrashEach(ft, testkit.CrashTest{
				Setup:  func(*engine.Engine, *testkit.Effects) error { return nil },
				Start:  func(context.Context, *engine.Engine) (int64, error) { return 0, nil },
				Config: engine.Config{WorkerID: "mine"},
			})
		}},
		{"RunStep nil handler", "testkit: RunStep: the handler is nil", func(ft *fatalT) { _, _ = testkit.RunStep(ft, nil, nil, nil, nil) }},
		{"RunStep negative attempt", "must not be negative, got -1, 0, 0 and 0s", func(ft *fatalT) {
			_, _ = testkit.RunStep(ft, ok, nil, nil, &testkit.StepOptions{Attempt: -1})
		}},
		{"RunStep raw dep not JSON", `testkit: result of dependency quote is not valid JSON: "{amount: 42}"`, func(ft *fatalT) {
			_, _ = testkit.RunStep(ft, ok, nil, map[string]any{"quote": json.RawMessage("{amount: 42}")}, nil)
		}},
		// A bare number is nanoseconds: the handler saw its deadline
		// passed, as a template would refuse (Timeout: 30 meant 30 s).
		{"RunStep nanosecond timeout", "testkit: RunStep: StepOptions.Timeout 30ns is under a millisecond", func(ft *fatalT) {
			_, _ = testkit.RunStep(ft, ok, nil, nil, &testkit.StepOptions{Timeout: 30})
		}},
		// The engine's StepContext.Workflow is always "namespace/name":
		// a handler splitting it was tested on a value it never sees.
		{"RunStep workflow without namespace", `testkit: RunStep: StepOptions.Workflow "checkout" is not "namespace/name"`, func(ft *fatalT) {
			_, _ = testkit.RunStep(ft, ok, nil, nil, &testkit.StepOptions{Workflow: "checkout"})
		}},
		{"RunStep workflow with version", `testkit: RunStep: StepOptions.Workflow "shop/checkout@1.0.0" is not "namespace/name"`, func(ft *fatalT) {
			_, _ = testkit.RunStep(ft, ok, nil, nil, &testkit.StepOptions{Workflow: "shop/checkout@1.0.0"})
		}},
		{"RunStep workflow with empty name", `testkit: RunStep: StepOptions.Workflow "shop/" is not "namespace/name"`, func(ft *fatalT) {
			_, _ = testkit.RunStep(ft, ok, nil, nil, &testkit.StepOptions{Workflow: "shop/"})
		}},
		// A DAG task records no durable steps: the empty list passed any
		// assertion that nothing ran.
		{"DurableSteps of a DAG task", "testkit: DurableSteps(1): the task is of the DAG template t/one, which records no durable steps", func(ft *fatalT) {
			env := newEnv(ft)
			h, err := env.Start(t.Context(), "t/one", nil)
			must(t, err)
			env.DurableSteps(h.TaskID)
		}},
		{"RunStep raw input not JSON", `testkit: input is not valid JSON: "order 42"`, func(ft *fatalT) { _, _ = testkit.RunStep(ft, ok, []byte("order 42"), nil, nil) }},
		// A task's input is a JSON object (Start refuses any other): the
		// handler was tested on an input no task has.
		{"RunStep input not an object", `testkit: RunStep: the input is "order 42", not a JSON object: a task's input is one (Start refuses any other)`, func(ft *fatalT) {
			_, _ = testkit.RunStep(ft, ok, "order 42", nil, nil)
		}},
		{"RunStep raw input not an object", `testkit: RunStep: the input is [1,2], not a JSON object`, func(ft *fatalT) { _, _ = testkit.RunStep(ft, ok, json.RawMessage(`[1,2]`), nil, nil) }},
	} {
		if got := fatalOf(t, c.f); got == "" || !strings.Contains(got, c.want) {
			t.Errorf("%s: Fatalf %q, want it to contain %q", c.name, got, c.want)
		}
	}
	// The valid forms still pass.
	if got := fatalOf(t, func(ft *fatalT) {
		env := newEnv(ft)
		h, err := env.Start(t.Context(), "t/one", nil)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		env.AssertStepHistory(h.TaskID, "charge", "pending → in_progress", "in_progress → complete")
		env.RunFor(0)
		_, _ = testkit.RunStep(ft, ok, json.RawMessage(`{"order":42}`), map[string]any{"quote": []byte(`{"amount":42}`)}, nil)
		_, _ = testkit.RunStep(ft, ok, nil, nil, &testkit.StepOptions{Workflow: "shop/checkout"})
	}); got != "" {
		t.Fatalf("valid uses failed: %s", got)
	}
}

// FailOnAttempts with a nil error still fails the attempts it lists (it
// made them succeed), and a wrapper that could fail nothing is refused
// where it is built.
func TestFailOnAttemptsKeepsItsWord(t *testing.T) {
	ok := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return "ran", nil })
	_, err := testkit.RunStep(t, testkit.FailOnAttempts(ok, nil, 1), nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "attempt 1") {
		t.Fatalf("attempt 1 with a nil error: %v, want a failure naming the attempt", err)
	}
	for name, build := range map[string]func(){
		"nil handler":  func() { testkit.FailOnAttempts(nil, nil, 1) },
		"no attempts":  func() { testkit.FailOnAttempts(ok, nil) },
		"attempt zero": func() { testkit.FailOnAttempts(ok, nil, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: accepted", name)
				}
			}()
			build()
		}()
	}
}

// RunFor that cannot get to its end in its rounds (10000, here 100) fails,
// saying how far it got. Before, it returned as if d had passed: here with
// the clock moved 100 ms of the hour asked for.
func TestRunForFailsWhenItCannotGetThere(t *testing.T) {
	defer testkit.SetMaxRounds(100)()
	msg := fatalOf(t, func(ft *fatalT) {
		env := testkit.NewEngine(ft, nil)
		must(t, env.HandleFunc("busy", func(*engine.StepContext) (any, error) {
			return nil, engine.Retryable(errors.New("not yet"), time.Millisecond)
		}))
		must(t, env.Register(&engine.Template{Namespace: "t", Name: "busy",
			Steps: []engine.StepTemplate{{Name: "poll", Handler: "busy", RetryLimit: 1_000_000}}}))
		_, err := env.Start(t.Context(), "t/busy", nil)
		must(t, err)
		env.RunFor(time.Hour)
	})
	if want := "testkit: RunFor(1h0m0s): still 59m59.9s short of the end after 100 rounds"; !strings.Contains(msg, want) {
		t.Fatalf("RunFor said %q, want it to contain %q", msg, want)
	}
}

// A ready step the engine can never claim — its handler registered under
// another name, or its task on a queue the engine does not serve — fails
// RunUntilDone and RunFor at once, naming the step and what is missing.
// Before, NextWakeup kept reporting it ready, the clock crept a
// millisecond a round, and RunUntilDone failed after 10000 rounds (2 s)
// with "did not finish", RunFor(time.Hour) returned as if the hour had
// passed.
func TestRunRefusesAStepNothingCanClaim(t *testing.T) {
	newEnv := func(ft *fatalT) *testkit.Env {
		env := testkit.NewEngine(ft, nil)
		must(t, env.HandleFunc("shop.chrage", func(*engine.StepContext) (any, error) { return 1, nil }))
		must(t, env.Register(&engine.Template{Namespace: "shop", Name: "order", Steps: []engine.StepTemplate{{Name: "charge", Handler: "shop.charge"}}}))
		must(t, env.Register(&engine.Template{Namespace: "shop", Name: "typo", Steps: []engine.StepTemplate{{Name: "charge", Handler: "shop.chrage"}}}))
		return env
	}
	for _, c := range []struct {
		name, want string
		f          func(ft *fatalT)
	}{
		{"RunUntilDone, handler misspelt", `testkit: step charge of task 1 is ready, but no handler "shop.charge" is registered (handlers: shop.chrage)`, func(ft *fatalT) {
			env := newEnv(ft)
			h, err := env.Start(t.Context(), "shop/order", nil)
			must(t, err)
			env.RunUntilDone(h.TaskID)
		}},
		{"RunFor, handler misspelt", `testkit: step charge of task 1 is ready, but no handler "shop.charge" is registered`, func(ft *fatalT) {
			env := newEnv(ft)
			_, err := env.Start(t.Context(), "shop/order", nil)
			must(t, err)
			env.RunFor(time.Hour)
		}},
		{"RunUntilDone, queue not served", `testkit: step charge of task 1 is ready on queue "payments", which the engine does not serve (Config.Execution.Queues: default)`, func(ft *fatalT) {
			env := newEnv(ft)
			h, err := env.Start(t.Context(), "shop/typo", nil, engine.WithQueue("payments"))
			must(t, err)
			env.RunUntilDone(h.TaskID)
		}},
	} {
		if got := fatalOf(t, c.f); !strings.Contains(got, c.want) {
			t.Errorf("%s: Fatalf %q, want it to contain %q", c.name, got, c.want)
		}
	}
	// Another task's unclaimable step does not stop a task that can
	// finish, through rounds that find nothing to run.
	if got := fatalOf(t, func(ft *fatalT) {
		env := newEnv(ft)
		ok := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return 1, nil })
		must(t, env.Handle("later", testkit.FailOnAttempts(ok, engine.Retryable(errors.New("busy"), 10*time.Millisecond), 1)))
		must(t, env.Register(&engine.Template{Namespace: "shop", Name: "later", Steps: []engine.StepTemplate{{Name: "charge", Handler: "later"}}}))
		_, err := env.Start(t.Context(), "shop/order", nil)
		must(t, err)
		h, err := env.Start(t.Context(), "shop/later", nil)
		must(t, err)
		env.RunUntilDone(h.TaskID)
	}); got != "" {
		t.Fatalf("a task of its own: %s", got)
	}
}

// ReplayFile refuses a file with a key a history does not have: a
// misspelt key ("step" for "steps") decoded to a history without it.
func TestReplayFileRefusesUnknownKeys(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	path := filepath.Join(t.TempDir(), "history.json")
	if err := os.WriteFile(path, []byte(`{"workflow": "t/w", "step": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := fatalOf(t, func(ft *fatalT) { testkit.ReplayFile(ft, env.Engine, path) })
	if !strings.Contains(msg, `unknown field "step"`) {
		t.Fatalf("ReplayFile of a history with a misspelt key: %q, want it refused naming the key", msg)
	}
}

// FailOnAttempts listing an attempt past the retry limit of a step that
// runs it is refused where the two meet, Env.Handle or Env.Register
// (either order), naming the step, the attempt and the limit; nothing is
// registered. Before, both were taken, and the injected failure never
// came: the step ran out of attempts first, or succeeded.
func TestFailOnAttemptsPastTheRetryLimitRefused(t *testing.T) {
	ok := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return 1, nil })
	env := testkit.NewEngine(t, nil)

	// Handler first: the template's step (default limit 3) is refused.
	must(t, env.Handle("flaky", testkit.FailOnAttempts(ok, nil, 1, 4)))
	err := env.Register(&engine.Template{Namespace: "t", Name: "one", Steps: []engine.StepTemplate{{Name: "charge", Handler: "flaky"}}})
	if want := `testkit: FailOnAttempts on handler "flaky" fails attempt 4, but step charge of t/one makes at most 3 attempts`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Register = %v, want it to contain %q", err, want)
	}
	if tpl := env.Templates(); len(tpl) != 0 {
		t.Fatalf("the refused template was registered: %v", tpl)
	}

	// Template first: the handler is refused, and not registered.
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "once", Steps: []engine.StepTemplate{{Name: "notify", Handler: "once", NotRetryable: true}}}))
	err = env.Handle("once", testkit.FailOnAttempts(ok, nil, 2))
	if want := `testkit: FailOnAttempts on handler "once" fails attempt 2, but step notify of t/once makes at most 1 attempt`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Handle = %v, want it to contain %q", err, want)
	}
	if h := env.Handlers(); len(h) != 1 || h[0] != "flaky" {
		t.Fatalf("handlers after the refused one: %v, want only flaky", h)
	}

	// Within the limit both orders are taken.
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "three", Steps: []engine.StepTemplate{{Name: "charge", Handler: "flaky", RetryLimit: 4}}}))
	must(t, env.Handle("once", testkit.FailOnAttempts(ok, nil, 1)))
}

// The refusal sees what was registered on env.Engine directly as well as
// through Env: before, a FailOnAttempts handler given to env.Engine.Handle
// (or a template given to env.Engine.Register) was unknown to Env, and
// Env.Register (Env.Handle) took the other half, the injected failure
// never coming.
func TestFailOnAttemptsRefusedPastRegistrationsOnTheEngine(t *testing.T) {
	ok := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return 1, nil })
	env := testkit.NewEngine(t, nil)

	must(t, env.Engine.Handle("flaky", testkit.FailOnAttempts(ok, nil, 4)))
	err := env.Register(&engine.Template{Namespace: "t", Name: "one", Steps: []engine.StepTemplate{{Name: "charge", Handler: "flaky"}}})
	if want := `testkit: FailOnAttempts on handler "flaky" fails attempt 4, but step charge of t/one makes at most 3 attempts`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Register = %v, want it to contain %q", err, want)
	}
	if tpl := env.Templates(); len(tpl) != 0 {
		t.Fatalf("the refused template was registered: %v", tpl)
	}

	must(t, env.Engine.Register(&engine.Template{Namespace: "t", Name: "once", Steps: []engine.StepTemplate{{Name: "notify", Handler: "once", NotRetryable: true}}}))
	err = env.Handle("once", testkit.FailOnAttempts(ok, nil, 2))
	if want := `testkit: FailOnAttempts on handler "once" fails attempt 2, but step notify of t/once makes at most 1 attempt`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Handle = %v, want it to contain %q", err, want)
	}
	if h := env.Handlers(); len(h) != 1 || h[0] != "flaky" {
		t.Fatalf("handlers after the refused one: %v, want only flaky", h)
	}

	// CrashEach's Setup registers on the engine: it is refused after it.
	got := fatalOf(t, func(ft *fatalT) {
		testkit.CrashEach(ft, testkit.CrashTest{
			Setup: func(e *engine.Engine, _ *testkit.Effects) error {
				if err := e.Handle("flaky", testkit.FailOnAttempts(ok, nil, 4)); err != nil {
					return err
				}
				return e.Register(&engine.Template{Namespace: "t", Name: "one", Steps: []engine.StepTemplate{{Name: "charge", Handler: "flaky"}}})
			},
			Start: func(ctx context.Context, e *engine.Engine) (int64, error) {
				h, err := e.Start(ctx, "t/one", nil)
				if err != nil {
					return 0, err
				}
				return h.TaskID, nil
			},
		})
	})
	if want := `testkit.CrashEach: the run without a crash: setup: testkit: FailOnAttempts on handler "flaky" fails attempt 4, but step charge of t/one makes at most 3 attempts`; !strings.Contains(got, want) {
		t.Fatalf("CrashEach: Fatalf %q, want it to contain %q", got, want)
	}
}

// The fake clock refuses to be moved backwards, naming the call: before,
// Clock.Advance(-d) and Clock.Set of an earlier time did nothing (the clock
// never runs backwards), and the test went on as if it had moved.
func TestClockRefusesToRunBackwards(t *testing.T) {
	for _, c := range []struct {
		name, want string
		f          func(env *testkit.Env)
	}{
		{"Advance", "testkit: Clock.Advance(-1h0m0s): the clock does not run backwards", func(env *testkit.Env) { env.Clock.Advance(-time.Hour) }},
		{"Set", "testkit: Clock.Set(2029-12-31 23:59:00 +0000 UTC): before the clock's 2030-01-01 00:00:00 +0000 UTC, and the clock does not run backwards", func(env *testkit.Env) {
			env.Clock.Set(env.Clock.Now().Add(-time.Minute))
		}},
	} {
		if got := fatalOf(t, func(ft *fatalT) { c.f(testkit.NewEngine(ft, nil)) }); !strings.Contains(got, c.want) {
			t.Errorf("%s: Fatalf %q, want it to contain %q", c.name, got, c.want)
		}
	}
	if got := fatalOf(t, func(ft *fatalT) {
		env := testkit.NewEngine(ft, nil)
		start := env.Clock.Now()
		env.Clock.Advance(time.Minute)
		env.Clock.Set(env.Clock.Now())
		env.Clock.Advance(0)
		if !env.Clock.Now().Equal(start.Add(time.Minute)) {
			ft.Fatalf("clock at %s, want %s", env.Clock.Now(), start.Add(time.Minute))
		}
	}); got != "" {
		t.Fatalf("moving forward: %s", got)
	}
}

// FailOnAttempts with an error that ends the step (engine.Permanent, or
// engine.Skip) at its first listed attempt refuses the later attempts it
// lists, naming them: they never come. Before, FailOnAttempts(h,
// engine.Permanent(err), 1, 2) was taken, and the step failed for good at
// attempt 1.
func TestFailOnAttemptsRefusesAttemptsAfterAnEndingError(t *testing.T) {
	ok := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return 1, nil })
	for name, c := range map[string]struct {
		err      error
		attempts []int
		want     string
	}{
		"permanent": {engine.Permanent(errors.New("gone")), []int{3, 1, 2}, "testkit.FailOnAttempts: attempts 2 and 3 never come: the error ends the step at attempt 1 (engine.Permanent)"},
		"skip":      {fmt.Errorf("wrapped: %w", engine.Skip("nothing to do")), []int{1, 2}, "testkit.FailOnAttempts: attempt 2 never comes: the error ends the step at attempt 1 (engine.Skip)"},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), c.want) {
					t.Errorf("%s: recovered %v; want a panic containing %q", name, r, c.want)
				}
			}()
			testkit.FailOnAttempts(ok, c.err, c.attempts...)
		}()
	}
	// One attempt, or an error that is retried, stands.
	testkit.FailOnAttempts(ok, engine.Permanent(errors.New("gone")), 2)
	testkit.FailOnAttempts(ok, errors.New("flaky"), 1, 2)
}

// TestRunStepRefusesPaddedNames: a template refuses a step or handler
// name, a namespace or a workflow name with spaces around it, so the
// engine never passes one; RunStep took them as they were, the handler
// tested on a StepContext no run has (its key "1: charge").
func TestRunStepRefusesPaddedNames(t *testing.T) {
	ok := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return 1, nil })
	for _, c := range []struct {
		opts testkit.StepOptions
		want string
	}{
		{testkit.StepOptions{Step: " charge"}, `testkit: RunStep: StepOptions.Step " charge" has spaces around it (a template refuses such a name): write "charge"`},
		{testkit.StepOptions{Handler: "shop.charge\t"}, `testkit: RunStep: StepOptions.Handler "shop.charge\t" has spaces around it (a template refuses such a name): write "shop.charge"`},
		{testkit.StepOptions{Workflow: "shop /checkout"}, `testkit: RunStep: StepOptions.Workflow "shop /checkout" has spaces around its namespace or name (a template refuses them): write "shop/checkout"`},
		{testkit.StepOptions{Workflow: "shop/ checkout"}, `write "shop/checkout"`},
		{testkit.StepOptions{Step: "  "}, `testkit: RunStep: StepOptions.Step "  " is blank (a template refuses such a name): leave it empty for the default`},
	} {
		got := fatalOf(t, func(ft *fatalT) { _, _ = testkit.RunStep(ft, ok, nil, nil, &c.opts) })
		if !strings.Contains(got, c.want) {
			t.Errorf("RunStep with %+v: Fatalf %q, want it to contain %q", c.opts, got, c.want)
		}
	}
	if got := fatalOf(t, func(ft *fatalT) {
		_, _ = testkit.RunStep(ft, ok, nil, nil, &testkit.StepOptions{Workflow: "shop/checkout", Step: "charge", Handler: "shop.charge"})
	}); got != "" {
		t.Fatalf("valid names: %s", got)
	}
}

// RunUntilDone that gives up says what each unfinished task, its children
// included, waits for: here a workflow waiting for its child, which waits
// for an event no one sends (a Select rechecks once a day, so the rounds
// run out). Before, it said only "tasks [1] did not finish in 10000
// rounds", after 27 years of fake time and 25 s of real time.
func TestRunUntilDoneSaysWhatTheTasksWaitFor(t *testing.T) {
	defer testkit.SetMaxRounds(20)()
	msg := fatalOf(t, func(ft *fatalT) {
		env := testkit.NewEngine(ft, nil)
		must(t, engine.RegisterWorkflow(env.Engine, "t/approve", func(w *engine.WorkflowContext, n int) (int, error) {
			var v int
			_, err := engine.Select(w, engine.OnEvent("approved", &v))
			return v, err
		}))
		must(t, engine.RegisterWorkflow(env.Engine, "t/order", func(w *engine.WorkflowContext, n int) (int, error) {
			return engine.Child[int](w, "t/approve", n)
		}))
		h, err := engine.StartWorkflow[int, int](t.Context(), env.Engine, "t/order", 1)
		must(t, err)
		env.RunUntilDone(h.TaskID)
	})
	for _, want := range []string{
		"testkit: tasks [1] did not finish in 20 rounds; unfinished:",
		"\n  task 1 (t/order): step workflow: the workflow waits for child workflow t/approve",
		"\n  task 2 (t/approve, child of task 1): step workflow: not before ",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("RunUntilDone said %q, want it to contain %q", msg, want)
		}
	}
}

// An attempt listed twice is refused, naming it: the second says nothing
// the first did not, and FailOnAttempts(h, err, 1, 1) is a slip for 1, 2
// that injected one failure where the test meant two. Before, it was
// taken.
func TestFailOnAttemptsRefusesAnAttemptListedTwice(t *testing.T) {
	ok := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return 1, nil })
	defer func() {
		want := "testkit.FailOnAttempts: attempt 2 is listed twice"
		if r := recover(); fmt.Sprint(r) != want {
			t.Fatalf("recovered %v; want a panic %q", r, want)
		}
	}()
	testkit.FailOnAttempts(ok, errors.New("flaky"), 1, 2, 3, 2)
}

// A FailOnAttempts handler and its template both registered on env.Engine
// — as a package's own Register(e *engine.Engine, …) does — meet no
// Env.Handle or Env.Register to refuse an attempt past the step's limit:
// RunUntilDone and RunFor refuse it before running anything, as CrashEach
// does after its Setup. Before, the step succeeded at its first attempt,
// the injected failure never came, and the test passed.
func TestRunRefusesFailOnAttemptsPastTheLimitRegisteredOnTheEngine(t *testing.T) {
	ok := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return 1, nil })
	want := `testkit: FailOnAttempts on handler "flaky" fails attempt 4, but step charge of t/one makes at most 3 attempts`
	for name, run := range map[string]func(env *testkit.Env, id int64){
		"RunUntilDone": func(env *testkit.Env, id int64) { env.RunUntilDone(id) },
		"RunFor":       func(env *testkit.Env, id int64) { env.RunFor(time.Hour) },
	} {
		ran := false
		got := fatalOf(t, func(ft *fatalT) {
			env := testkit.NewEngine(ft, nil)
			must(t, env.Engine.Handle("flaky", testkit.FailOnAttempts(engine.HandlerFunc(func(sc *engine.StepContext) (any, error) {
				ran = true
				return ok.Handle(sc)
			}), nil, 4)))
			must(t, env.Engine.Register(&engine.Template{Namespace: "t", Name: "one", Steps: []engine.StepTemplate{{Name: "charge", Handler: "flaky"}}}))
			h, err := env.Start(t.Context(), "t/one", nil)
			must(t, err)
			run(env, h.TaskID)
		})
		if !strings.Contains(got, want) || ran {
			t.Errorf("%s: Fatalf %q (the handler ran: %v); want it to contain %q before running", name, got, ran, want)
		}
	}
}

// AssertHistory and AssertStepHistory name the task and the first line
// that differs, with what it is and what was wanted, before the whole
// lists. Before, they gave both lists on one line each, and a test author
// hunted the difference ("complete" or "completed") by eye;
// AssertStepHistory did not say of which task.
func TestAssertHistoryNamesTheFirstDifference(t *testing.T) {
	newEnv := func(ft *fatalT) (*testkit.Env, int64) {
		env := testkit.NewEngine(ft, nil)
		must(t, env.HandleFunc("ok", func(*engine.StepContext) (any, error) { return 1, nil }))
		must(t, env.Register(&engine.Template{Namespace: "t", Name: "one", Steps: []engine.StepTemplate{{Name: "charge", Handler: "ok"}}}))
		h, err := env.Start(t.Context(), "t/one", nil)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		return env, h.TaskID
	}
	for _, c := range []struct {
		name, want string
		f          func(ft *fatalT)
	}{
		{"AssertHistory", `task 1 history differs at line 4:` + "\n" + `  got  "step charge: in_progress → complete"` + "\n" + `  want "step charge: in_progress → completed"`, func(ft *fatalT) {
			env, id := newEnv(ft)
			env.AssertHistory(id, "task pending", "step charge: pending → in_progress", "task pending → in_progress", "step charge: in_progress → completed", "task in_progress → complete")
		}},
		{"AssertHistory, a line short", `task 1 history differs at line 5:` + "\n" + `  got  "task in_progress → complete"` + "\n" + `  want no more lines`, func(ft *fatalT) {
			env, id := newEnv(ft)
			env.AssertHistory(id, "task pending", "step charge: pending → in_progress", "task pending → in_progress", "step charge: in_progress → complete")
		}},
		{"AssertStepHistory, a line more", `task 1 step charge history differs at line 3:` + "\n" + `  got  no more lines` + "\n" + `  want "complete → pending"`, func(ft *fatalT) {
			env, id := newEnv(ft)
			env.AssertStepHistory(id, "charge", "pending → in_progress", "in_progress → complete", "complete → pending")
		}},
	} {
		if got := fatalOf(t, c.f); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: Fatalf %q, want it to begin %q", c.name, got, c.want)
		}
	}
}

// Replay and ReplayFile given a nil engine fail the test, naming the
// mistake. Before, Replay dereferenced it (a nil-pointer panic), and
// ReplayFile did once it had read the file.
func TestReplayRefusesANilEngine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.json")
	must(t, os.WriteFile(path, []byte(`{}`), 0o644))
	for name, f := range map[string]func(ft *fatalT){
		"Replay":     func(ft *fatalT) { testkit.Replay(ft, nil, 1) },
		"ReplayFile": func(ft *fatalT) { testkit.ReplayFile(ft, nil, path) },
	} {
		got := ""
		func() {
			defer func() {
				if r := recover(); r != nil && got == "" {
					got = fmt.Sprint("panic: ", r)
				}
			}()
			ft := &fatalT{TB: t}
			defer func() { got = ft.msg }()
			f(ft)
		}()
		if want := "testkit." + name + ": the engine is nil"; got != want {
			t.Errorf("%s(nil engine): %q, want %q", name, got, want)
		}
	}
}

// A schedule tick that cannot start its run — here the template's new
// version requires an input field the schedule's input lacks — fails
// RunFor, naming the schedule, the tick and the error, instead of the
// tick looking due round after round.
func TestRunForFailsOnAScheduleThatCannotFire(t *testing.T) {
	got := fatalOf(t, func(ft *fatalT) {
		ctx := t.Context()
		env := testkit.NewEngine(ft, nil)
		must(t, env.HandleFunc("ok", func(*engine.StepContext) (any, error) { return 1, nil }))
		must(t, env.Register(&engine.Template{Namespace: "t", Name: "one", Version: "1.0.0", Steps: []engine.StepTemplate{{Name: "a", Handler: "ok"}}}))
		_, err := env.Schedule(ctx, "hourly", "@every 1h", "t/one", map[string]int{"x": 1}, engine.ScheduleOptions{})
		must(t, err)
		must(t, env.Register(&engine.Template{Namespace: "t", Name: "one", Version: "2.0.0", InputSchema: []byte(`{"type":"object","required":["y"]}`),
			Steps: []engine.StepTemplate{{Name: "a", Handler: "ok"}}}))
		env.RunFor(3 * time.Hour)
	})
	want := "testkit: schedule hourly did not fire its tick at 2030-01-01 01:00:00 +0000 UTC: starting the run of 2030-01-01T01:00:00Z: starting t/one: "
	if !strings.HasPrefix(got, want) || !strings.Contains(got, "missing property 'y'") {
		t.Fatalf("RunFor: Fatalf %q, want it to begin %q and name the missing property", got, want)
	}
}
