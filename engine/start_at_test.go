package engine_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A delayed start creates the task at once and runs nothing before its
// time, for code-first workflows and DAGs alike; WithWorkflowTimeout counts
// from the start time; bad values are refused with nothing created.
func TestStartAtAndStartAfter(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	var c calls
	must(t, engine.RegisterWorkflow(env.Engine, "t/later", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.Step(wctx, "s", func(ctx context.Context) (int, error) { c.inc("code"); return in, nil })
	}))
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { c.inc("dag"); return 1, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "h"}, {Name: "b", Handler: "h", DependsOn: []string{"a"}}}}))
	ctx := context.Background()
	t0 := env.Clock.Now()
	code, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/later", 7, engine.StartAfter(time.Hour), engine.WithWorkflowTimeout(30*time.Minute))
	must(t, err)
	dag, err := env.Start(ctx, "t/dag", nil, engine.StartAt(t0.Add(2*time.Hour)))
	must(t, err)
	again, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/later", 7, engine.StartAfter(time.Hour))
	must(t, err)
	if !again.Existing || again.TaskID != code.TaskID {
		t.Fatalf("a second delayed start of the same input created task %d", again.TaskID)
	}
	env.RunFor(59 * time.Minute)
	if c.get("code") != 0 || c.get("dag") != 0 {
		t.Fatalf("ran before its time: %v", c.n)
	}
	env.RunUntilDone(code.TaskID)
	if v, err := code.Result(ctx); err != nil || v != 7 { // the 30-minute timeout counts from the start
		t.Fatalf("delayed workflow: %d, %v", v, err)
	}
	if ran := env.Clock.Now().Sub(t0); ran < time.Hour || c.get("dag") != 0 {
		t.Fatalf("the workflow ran after %s; the DAG ran %d times", ran, c.get("dag"))
	}
	env.RunUntilDone(dag.TaskID)
	if ran := env.Clock.Now().Sub(t0); ran < 2*time.Hour || c.get("dag") != 2 {
		t.Fatalf("the DAG finished after %s with %d steps run", ran, c.get("dag"))
	}
	// A time already passed starts at once.
	now, err := env.Start(ctx, "t/dag", map[string]int{"n": 2}, engine.StartAt(t0))
	must(t, err)
	before := env.Clock.Now()
	env.RunUntilDone(now.TaskID)
	if env.Clock.Now() != before {
		t.Fatal("a start time in the past waited")
	}
	// Refused: a negative delay, one under a millisecond (StartAfter(30),
	// meant 30 s, started at once), a zero time; nothing is created.
	counts, err := env.Store.CountByState(ctx)
	must(t, err)
	for _, c := range []struct {
		opt  engine.StartOption
		want string
	}{{engine.StartAfter(-time.Second), "StartAfter(-1s)"}, {engine.StartAfter(30), "StartAfter(30ns): the delay is under a millisecond"}, {engine.StartAt(time.Time{}), "StartAt"}} {
		if _, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/later", 8, c.opt); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("bad start time: %v (want %q)", err, c.want)
		}
		if _, err := env.Start(ctx, "t/dag", map[string]int{"n": 3}, c.opt); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("bad start time (DAG): %v (want %q)", err, c.want)
		}
		res, err := env.StartMany(ctx, []engine.StartRequest{{Workflow: "t/dag", Input: map[string]int{"n": 4}, Options: []engine.StartOption{c.opt}}})
		must(t, err)
		if err := res[0].Err; !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("bad start time (StartMany): %v (want %q)", err, c.want)
		}
	}
	after, err := env.Store.CountByState(ctx)
	must(t, err)
	if after.Tasks[store.TaskPending] != counts.Tasks[store.TaskPending] || len(after.Tasks) != len(counts.Tasks) {
		t.Fatalf("a refused start created a task: %v → %v", counts.Tasks, after.Tasks)
	}
}

// StartAfter(0) starts at once, as its doc says: it was refused with an
// error naming StartAt ("the time is zero"), an option not given.
func TestStartAfterZeroStartsAtOnce(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	ctx := context.Background()
	h, err := env.Start(ctx, "t/dag", nil, engine.StartAfter(0))
	if err != nil {
		t.Fatalf("StartAfter(0): %v", err)
	}
	before := env.Clock.Now()
	env.RunUntilDone(h.TaskID)
	if env.Clock.Now() != before {
		t.Fatalf("StartAfter(0) waited %s", env.Clock.Now().Sub(before))
	}
}

// A WithWorkflowTimeout that, counted from a delayed start, overflows a
// time.Duration is refused naming the option, for DAGs and code-first
// workflows alike, with nothing created. The sum wrapped into a negative
// deadline, which the store refused naming its own field ("deadline").
// A timeout that fits, however long, is accepted.
func TestWorkflowTimeoutOverflowingADelayedStart(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/code", func(wctx *engine.WorkflowContext, in int) (int, error) { return in, nil }))
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	ctx := context.Background()
	huge := engine.WithWorkflowTimeout(math.MaxInt64 - time.Minute)
	for name, start := range map[string]func(...engine.StartOption) error{
		"dag": func(o ...engine.StartOption) error { _, err := env.Start(ctx, "t/dag", nil, o...); return err },
		"code": func(o ...engine.StartOption) error {
			_, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/code", 1, o...)
			return err
		},
	} {
		for _, delay := range []engine.StartOption{engine.StartAfter(time.Hour), engine.StartAt(env.Clock.Now().Add(time.Hour))} {
			err := start(huge, delay)
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "WithWorkflowTimeout") || strings.Contains(err.Error(), "deadline: must not be negative") {
				t.Errorf("%s: a timeout that overflows past the delayed start: %v, want ErrInvalid naming WithWorkflowTimeout", name, err)
			}
		}
	}
	if tasks, _ := env.Store.CountByState(ctx); len(tasks.Tasks) != 0 {
		t.Fatalf("refused starts created tasks: %v", tasks.Tasks)
	}
	_, err := env.Start(ctx, "t/dag", nil, engine.WithWorkflowTimeout(100*365*24*time.Hour), engine.StartAfter(time.Hour))
	must(t, err)
}

// StartAt a time whose year the stores cannot hold (past 9999, before 1)
// is refused naming the option and the time, for DAGs, code-first
// workflows and StartMany items, with nothing created. SQLite stored it as
// text that no read parses back ("20000-01-01 …" also sorts before today,
// so the claim picked it): every claim failed from then on, for every
// task. The last year the stores hold is accepted and read back.
func TestStartAtOutsideTheYearsStoresHoldIsRefused(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	must(t, engine.RegisterWorkflow(env.Engine, "t/code", func(wctx *engine.WorkflowContext, in int) (int, error) { return in, nil }))
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	ctx := context.Background()
	for _, at := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)} {
		many, err := env.StartMany(ctx, []engine.StartRequest{{Workflow: "t/dag", Options: []engine.StartOption{engine.StartAt(at)}}})
		must(t, err)
		_, dagErr := env.Start(ctx, "t/dag", nil, engine.StartAt(at))
		_, codeErr := engine.StartWorkflow[int, int](ctx, env.Engine, "t/code", 1, engine.StartAt(at))
		for name, err := range map[string]error{"dag": dagErr, "code": codeErr, "StartMany item": many[0].Err} {
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "StartAt("+at.Format(time.RFC3339)) {
				t.Errorf("%s: StartAt(%s): %v, want ErrInvalid naming StartAt and the time", name, at, err)
			}
		}
	}
	if tasks, _ := env.Store.CountByState(ctx); len(tasks.Tasks) != 0 {
		t.Fatalf("refused starts created tasks: %v", tasks.Tasks)
	}
	last := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	h, err := env.Start(ctx, "t/dag", nil, engine.StartAt(last))
	must(t, err)
	if _, err := env.Store.GetTask(ctx, h.TaskID); err != nil {
		t.Fatalf("reading the task started at %s: %v", last, err)
	}
	if n, err := env.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("RunOnce with a task held until %s: %d steps, %v", last, n, err)
	}
}
