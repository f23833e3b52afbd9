package testkit_test

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

func crashDAG() testkit.CrashTest {
	return testkit.CrashTest{
		Setup: func(e *engine.Engine, fx *testkit.Effects) error {
			if err := e.HandleFunc("effect", func(sc *engine.StepContext) (any, error) {
				fx.Record(sc.IdempotencyKey)
				return sc.Step, nil
			}); err != nil {
				return err
			}
			return e.Register(&engine.Template{Namespace: "shop", Name: "order", Steps: []engine.StepTemplate{
				{Name: "charge", Handler: "effect"},
				{Name: "reserve", Handler: "effect"},
				{Name: "ship", Handler: "effect", DependsOn: []string{"charge", "reserve"}},
			}})
		},
		Start: func(ctx context.Context, e *engine.Engine) (int64, error) {
			h, err := e.Start(ctx, "shop/order", map[string]int{"order": 7}, engine.WithIdempotencyKey("order-7"))
			if err != nil {
				return 0, err
			}
			return h.TaskID, nil
		},
	}
}

// Every boundary of a DAG workflow is crashed at, on both sides of its
// commit, and the workflow recovers each time.
func TestCrashEachDAG(t *testing.T) {
	r := testkit.CrashEach(t, crashDAG())
	if len(r.Writes) < 3 || len(r.Boundaries) != 2*len(r.Writes) {
		t.Fatalf("report: %d writes, %d boundaries; want every write crashed at twice", len(r.Writes), len(r.Boundaries))
	}
	methods := strings.Join(r.Writes, " ")
	for _, m := range []string{"CreateTasks", "ClaimSteps", "FinishSteps"} {
		if !strings.Contains(methods, m) {
			t.Errorf("no %s among the writes exercised: %s", m, methods)
		}
	}
	repeated := 0
	for _, b := range r.Boundaries {
		repeated += b.Repeated
	}
	if repeated == 0 {
		t.Errorf("no crash repeated a side effect; a crash after a handler ran and before its completion committed must")
	}
}

// A code-first workflow: two durable steps recorded by its driver.
func TestCrashEachWorkflow(t *testing.T) {
	r := testkit.CrashEach(t, testkit.CrashTest{
		Setup: func(e *engine.Engine, fx *testkit.Effects) error {
			effect := func(ctx context.Context) (string, error) {
				info, _ := engine.StepInfoFrom(ctx)
				fx.Record(info.IdempotencyKey)
				return info.Name, nil
			}
			return engine.RegisterWorkflow(e, "shop/renew", func(w *engine.WorkflowContext, account string) (string, error) {
				if _, err := engine.Step(w, "charge", effect); err != nil {
					return "", err
				}
				return engine.Step(w, "notify", effect)
			})
		},
		Start: func(ctx context.Context, e *engine.Engine) (int64, error) {
			h, err := engine.StartWorkflow[string, string](ctx, e, "shop/renew", "acme", engine.WithIdempotencyKey("renew-acme"))
			if err != nil {
				return 0, err
			}
			return h.TaskID, nil
		},
	})
	if !strings.Contains(strings.Join(r.Writes, " "), "Record") {
		t.Fatalf("no durable step record among the writes: %v", r.Writes)
	}
}

// A start without a fixed identity makes a second task when the first
// start's reply is lost: CrashEach reports it.
func TestCrashEachReportsUnkeyedStart(t *testing.T) {
	c := crashDAG()
	setup := c.Setup
	c.Setup = func(e *engine.Engine, fx *testkit.Effects) error {
		if err := setup(e, fx); err != nil {
			return err
		}
		return e.Register(&engine.Template{Namespace: "shop", Name: "note", Steps: []engine.StepTemplate{{Name: "note", Handler: "effect"}}})
	}
	c.Start = func(ctx context.Context, e *engine.Engine) (int64, error) {
		h, err := e.Start(ctx, "shop/note", nil, engine.Unique())
		if err != nil {
			return 0, err
		}
		return h.TaskID, nil
	}
	ft := &fatalT{TB: t}
	func() {
		defer func() { _ = recover() }()
		testkit.CrashEach(ft, c)
	}()
	if !strings.Contains(ft.msg, "tasks exist") {
		t.Fatalf("CrashEach said %q; want the second task reported", ft.msg)
	}
}

// fatalT records the first Fatalf and stops the function under test.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f.msg)
}

// A side effect recorded without a key is refused: engine.StepInfoFrom in
// a DAG handler (not a durable step) gives none, so every effect counted
// as one under "", and a crash that lost one went unseen. Before, CrashEach
// passed.
func TestCrashEachRefusesAnEmptyKey(t *testing.T) {
	c := crashDAG()
	c.Setup = func(e *engine.Engine, fx *testkit.Effects) error {
		if err := e.HandleFunc("effect", func(sc *engine.StepContext) (any, error) {
			info, _ := engine.StepInfoFrom(sc) // a DAG step: no durable step's info
			fx.Record(info.IdempotencyKey)
			return sc.Step, nil
		}); err != nil {
			return err
		}
		return e.Register(&engine.Template{Namespace: "shop", Name: "order", Steps: []engine.StepTemplate{
			{Name: "charge", Handler: "effect"},
			{Name: "ship", Handler: "effect", DependsOn: []string{"charge"}},
		}})
	}
	msg := fatalOf(t, func(ft *fatalT) { testkit.CrashEach(ft, c) })
	if want := `testkit.CrashEach: the run without a crash recorded 2 side effects with an empty idempotency key (Effects.Record("")`; !strings.Contains(msg, want) {
		t.Fatalf("CrashEach said %q, want it to contain %q", msg, want)
	}
}

// A Setup that fails fails the test, naming its error. Before, CrashEach
// panicked with a nil pointer dereference stopping the engine it did not
// get.
func TestCrashEachReportsAFailedSetup(t *testing.T) {
	c := crashDAG()
	c.Setup = func(*engine.Engine, *testkit.Effects) error { return errors.New("no such handler table") }
	got := ""
	func() {
		defer func() {
			if r := recover(); r != nil && got == "" {
				got = fmt.Sprint("panic: ", r)
			}
		}()
		ft := &fatalT{TB: t}
		defer func() { got = ft.msg }()
		testkit.CrashEach(ft, c)
	}()
	if want := "testkit.CrashEach: the run without a crash: setup: no such handler table"; got != want {
		t.Fatalf("CrashEach with a failing Setup: %q, want %q", got, want)
	}
}

// A step the engines can never claim — its handler misspelt in the
// template, or on a queue Config.Execution.Queues leaves out — fails
// CrashEach at once, naming the step and what is missing, as RunUntilDone
// does. Before, the run without a crash crept a millisecond a round and
// failed after 10000 rounds (about 10 s) with "task 1 did not finish in
// 10000 rounds", not a word of why.
func TestCrashEachNamesAStepNothingCanClaim(t *testing.T) {
	for _, c := range []struct {
		name, want string
		edit       func(*testkit.CrashTest)
	}{
		{"handler misspelt", `testkit.CrashEach: the run without a crash: step charge of task 1 is ready, but no handler "efect" is registered (handlers: effect)`, func(c *testkit.CrashTest) {
			setup := c.Setup
			c.Setup = func(e *engine.Engine, fx *testkit.Effects) error {
				if err := setup(e, fx); err != nil {
					return err
				}
				return e.Register(&engine.Template{Namespace: "shop", Name: "typo", Steps: []engine.StepTemplate{{Name: "charge", Handler: "efect"}}})
			}
			c.Start = func(ctx context.Context, e *engine.Engine) (int64, error) {
				h, err := e.Start(ctx, "shop/typo", nil, engine.WithIdempotencyKey("typo"))
				if err != nil {
					return 0, err
				}
				return h.TaskID, nil
			}
		}},
		{"queue not served", `testkit.CrashEach: the run without a crash: step charge of task 1 is ready on queue "default", which the engine does not serve (Config.Execution.Queues: payments)`, func(c *testkit.CrashTest) {
			c.Config.Execution.Queues = []string{"payments"}
		}},
	} {
		ct := crashDAG()
		c.edit(&ct)
		ft := &fatalT{TB: t}
		func() {
			defer func() { _ = recover() }()
			testkit.CrashEach(ft, ct)
		}()
		if ft.msg != c.want {
			t.Errorf("%s: CrashEach said %q, want %q", c.name, ft.msg, c.want)
		}
	}
}

// A workflow that cannot finish on its own — here it waits for an event,
// which CrashEach does not send — fails CrashEach saying what it waits
// for. Before, it said only "task 1 did not finish in 10000 rounds".
func TestCrashEachSaysWhatAnUnfinishedTaskWaitsFor(t *testing.T) {
	defer testkit.SetMaxRounds(20)()
	c := testkit.CrashTest{
		Setup: func(e *engine.Engine, fx *testkit.Effects) error {
			return engine.RegisterWorkflow(e, "t/approve", func(w *engine.WorkflowContext, n int) (int, error) {
				var v int
				_, err := engine.Select(w, engine.OnEvent("approved", &v))
				return v, err
			})
		},
		Start: func(ctx context.Context, e *engine.Engine) (int64, error) {
			h, err := engine.StartWorkflow[int, int](ctx, e, "t/approve", 1, engine.WithIdempotencyKey("one"))
			if err != nil {
				return 0, err
			}
			return h.TaskID, nil
		},
	}
	ft := &fatalT{TB: t}
	func() {
		defer func() { _ = recover() }()
		testkit.CrashEach(ft, c)
	}()
	want := "testkit.CrashEach: the run without a crash: task 1 did not finish in 20 rounds; unfinished:\n  task 1 (t/approve): step workflow: not before "
	if !strings.HasPrefix(ft.msg, want) || !strings.HasSuffix(ft.msg, "(waiting for select)") {
		t.Fatalf("CrashEach said %q, want it to begin %q and say it waits for the select", ft.msg, want)
	}
}

// A recovered run whose durable steps came in another order than the run
// without a crash did — here the restarted program calls them the other
// way round, as code that depends on the process would — is reported,
// naming the steps with their sequence numbers. Before, both lists were
// sorted by name and compared equal: CrashEach passed.
func TestCrashEachReportsDurableStepsInAnotherOrder(t *testing.T) {
	c := testkit.CrashTest{
		Setup: func(e *engine.Engine, fx *testkit.Effects) error {
			restarted := fx.Runs()["setup"] > 0 // (fx survives the crash)
			fx.Record("setup")
			step := func(w *engine.WorkflowContext, name string) error {
				_, err := engine.Step(w, name, func(context.Context) (string, error) { return name, nil })
				return err
			}
			return engine.RegisterWorkflow(e, "shop/renew", func(w *engine.WorkflowContext, account string) (string, error) {
				first, second := "charge", "notify"
				if restarted {
					first, second = second, first
				}
				if err := step(w, first); err != nil {
					return "", err
				}
				return "", step(w, second)
			})
		},
		Start: func(ctx context.Context, e *engine.Engine) (int64, error) {
			h, err := engine.StartWorkflow[string, string](ctx, e, "shop/renew", "acme", engine.WithIdempotencyKey("renew-acme"))
			if err != nil {
				return 0, err
			}
			return h.TaskID, nil
		},
	}
	msg := fatalOf(t, func(ft *fatalT) { testkit.CrashEach(ft, c) })
	want := "durable steps recorded [1 notify:complete 2 charge:complete]; without a crash [1 charge:complete 2 notify:complete]"
	if !strings.Contains(msg, want) {
		t.Fatalf("CrashEach said %q, want it to contain %q", msg, want)
	}
}

// A side effect recorded without a key only when a crash made the step
// run again (here: only at a second attempt) is refused as in the run
// without a crash, naming the boundary. Before, only the run without a
// crash was checked, and CrashEach passed.
func TestCrashEachRefusesAnEmptyKeyAfterACrash(t *testing.T) {
	c := crashDAG()
	c.Setup = func(e *engine.Engine, fx *testkit.Effects) error {
		if err := e.HandleFunc("effect", func(sc *engine.StepContext) (any, error) {
			fx.Record(sc.IdempotencyKey)
			if sc.Attempt > 1 {
				fx.Record("") // a retry path's call that lost its key
			}
			return sc.Step, nil
		}); err != nil {
			return err
		}
		return e.Register(&engine.Template{Namespace: "shop", Name: "order", Steps: []engine.StepTemplate{{Name: "charge", Handler: "effect"}}})
	}
	msg := fatalOf(t, func(ft *fatalT) { testkit.CrashEach(ft, c) })
	want := `recorded 1 side effects with an empty idempotency key (Effects.Record(""))`
	if !strings.HasPrefix(msg, "testkit.CrashEach: crash at write ") || !strings.Contains(msg, want) {
		t.Fatalf("CrashEach said %q, want a crash boundary named and it to contain %q", msg, want)
	}
}

// A parent waiting for a child that sleeps 60 days recovers at every
// boundary: CrashEach skips the parent's looks at its child as
// RunUntilDone does. Before, the rounds ran out 35 days in.
func TestCrashEachSkipsAParentsLooksAtItsChild(t *testing.T) {
	defer testkit.SetMaxRounds(100)()
	r := testkit.CrashEach(t, testkit.CrashTest{
		Setup: func(e *engine.Engine, fx *testkit.Effects) error {
			if err := engine.RegisterWorkflow(e, "t/renewal", func(w *engine.WorkflowContext, n int) (int, error) {
				return n, engine.Sleep(w, 60*24*time.Hour)
			}); err != nil {
				return err
			}
			return engine.RegisterWorkflow(e, "t/subscription", func(w *engine.WorkflowContext, n int) (int, error) {
				return engine.Child[int](w, "t/renewal", n)
			})
		},
		Start: func(ctx context.Context, e *engine.Engine) (int64, error) {
			h, err := engine.StartWorkflow[int, int](ctx, e, "t/subscription", 7, engine.WithIdempotencyKey("sub-7"))
			if err != nil {
				return 0, err
			}
			return h.TaskID, nil
		},
	})
	if len(r.Boundaries) == 0 {
		t.Fatalf("no boundary exercised: %s", r)
	}
}
