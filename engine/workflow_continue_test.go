package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

type counterIn struct {
	N, Total, Per int
}

// registerCounter registers "t/counter": a loop of Total durable steps that
// continues as new every Per of them.
func registerCounter(t testing.TB, e *engine.Engine) {
	err := engine.RegisterWorkflow(e, "t/counter", func(wctx *engine.WorkflowContext, in counterIn) (int, error) {
		n := in.N
		for i := 0; i < in.Per && n < in.Total; i++ {
			v, err := engine.Step(wctx, "inc", func(ctx context.Context) (int, error) { return n + 1, nil })
			if err != nil {
				return 0, err
			}
			n = v
		}
		if n < in.Total {
			return 0, engine.ContinueAsNew(wctx, counterIn{N: n, Total: in.Total, Per: in.Per})
		}
		return n, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A loop of 200 iterations (durable steps), continued as new every 20:
// the result is the last run's, each of the 10 runs' history holds at most
// 20 rows, and the runs are linked both ways from the first to the last,
// each naming the last (RunLinks.Last).
// (10,000 iterations in runs of 100 pass too but take 80 s under -race on
// the shared machine; BenchmarkContinueAsNewResume runs 100 generations.)
func TestWorkflowContinueAsNewLoop(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	registerCounter(t, env.Engine)
	must(t, engine.RegisterWorkflow(env.Engine, "t/parent", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		return engine.Child[int](wctx, "t/counter", counterIn{Total: 25, Per: 10})
	}))
	ctx := context.Background()
	const total, per = 200, 20
	h, err := engine.StartWorkflow[counterIn, int](ctx, env.Engine, "t/counter", counterIn{Total: total, Per: per})
	must(t, err)
	runChain(t, env, h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != total {
		t.Fatalf("result %d, %v", got, err)
	}
	runs, prev, id := 0, int64(0), h.TaskID
	for id != 0 {
		runs++
		r, err := env.Runs(ctx, id)
		must(t, err)
		if r.ContinuedFrom != prev {
			t.Fatalf("run %d (task %d) continues %d, want %d", runs, id, r.ContinuedFrom, prev)
		}
		d := env.Task(id)
		if d.Task.State != store.TaskComplete || len(env.DurableSteps(id)) > per {
			t.Fatalf("run %d: %s with %d durable steps (bound %d)", runs, d.Task.State, len(env.DurableSteps(id)), per)
		}
		if runs%5 == 1 {
			testkit.Replay(t, env.Engine, id)
		}
		prev, id = id, r.ContinuedAs
	}
	if runs != total/per {
		t.Fatalf("%d runs, want %d", runs, total/per)
	}
	// Every run names the chain's last, where the workflow ended.
	for _, id := range []int64{h.TaskID, prev} {
		if r, err := env.Runs(ctx, id); err != nil || r.Last != prev {
			t.Fatalf("Runs(%d).Last = %d, %v; want the last run, %d", id, r.Last, err, prev)
		}
	}
	// A later run's handle gives the same result; a parent's Child waits
	// for the last run of its child's chain.
	if got, err := engine.GetWorkflow[int](env.Engine, prev).Result(ctx); err != nil || got != total {
		t.Fatalf("last run: %d, %v", got, err)
	}
	p, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, "t/parent", struct{}{})
	must(t, err)
	env.RunUntilDone(p.TaskID)
	if got, err := p.Result(ctx); err != nil || got != 25 {
		t.Fatalf("parent of a continued child: %d, %v", got, err)
	}
}

// The next run is created once even when the run that continues is run
// again (a crash before its completion was recorded), and a wrong input
// type is refused.
func TestWorkflowContinueAsNewOnceAndTyped(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	must(t, engine.RegisterWorkflow(env.Engine, "t/cont", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in >= 2 {
			return in, nil
		}
		first := engine.ContinueAsNew(wctx, in+1)
		again := engine.ContinueAsNew(wctx, in+1) // as if the run were repeated
		var a, b *engine.ContinuedError
		if !errors.As(first, &a) || !errors.As(again, &b) || a.Next != b.Next || a.TaskID != wctx.TaskID {
			return 0, engine.Permanent(errors.New("a second ContinueAsNew created another run"))
		}
		return 0, first
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/badcont", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return 0, engine.ContinueAsNew(wctx, "not an int")
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/cont", 0)
	must(t, err)
	runChain(t, env, h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != 2 {
		t.Fatalf("result %d, %v", got, err)
	}
	page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{Limit: 10})
	must(t, err)
	if len(page.Tasks) != 3 {
		t.Fatalf("%d tasks, want 3 runs", len(page.Tasks))
	}
	b, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/badcont", 0)
	must(t, err)
	env.RunUntilDone(b.TaskID)
	if _, err := b.Result(ctx); !errors.Is(err, engine.ErrStepFailed) || !strings.Contains(err.Error(), "input type is int, not string") {
		t.Fatalf("bad input type: %v", err)
	}
}

// runChain runs a workflow and the runs that continue it until the last
// one has finished, and returns the last one.
func runChain(t testing.TB, env *testkit.Env, id int64) int64 {
	t.Helper()
	for {
		env.RunUntilDone(id)
		r, err := env.Runs(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.ContinuedAs == 0 {
			return id
		}
		id = r.ContinuedAs
	}
}

// The run that continues a workflow keeps its WithConcurrency group and
// limit, as it keeps its queue and priority: the next run had none, so a
// workflow started under a limit of 1 ran unlimited from its second run on.
func TestContinueAsNewKeepsTheConcurrencyGroup(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/contgroup", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in >= 2 {
			return in, nil
		}
		return 0, engine.ContinueAsNew(wctx, in+1)
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/contgroup", 0, engine.WithConcurrency("tenant-7", 1), engine.WithQueue("default"), engine.WithPriority(9))
	must(t, err)
	for id := h.TaskID; id != 0; {
		env.RunUntilDone(id)
		s := env.Task(id).Step(engine.DriverStep)
		if s.ConcGroup == nil || *s.ConcGroup != "tenant-7" || s.ConcMax != 1 || s.Priority != 9 {
			t.Fatalf("run %d: group %v, limit %d, priority %d; want the first run's tenant-7, 1, 9", id, s.ConcGroup, s.ConcMax, s.Priority)
		}
		r, err := env.Runs(ctx, id)
		must(t, err)
		id = r.ContinuedAs
	}
	if got, err := h.Result(ctx); err != nil || got != 2 {
		t.Fatalf("result %d, %v", got, err)
	}
}

// TestContinueAsNewEndsTheRun: a run whose function goes on after
// ContinueAsNew, its error dropped, still ends as continued: durable
// operations after it return its *ContinuedError, doing nothing, and the
// run completes continued by the run ContinueAsNew created. The run went
// on and completed with its own result, unlinked from the next run, which
// ran as well: Result answered the first run's value and Runs named no
// next run, while a second chain carried on.
func TestContinueAsNewEndsTheRun(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	after := 0
	must(t, engine.RegisterWorkflow(env.Engine, "t/dropped", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in > 0 {
			return 100 + in, nil
		}
		_ = engine.ContinueAsNew(wctx, 1) // the mistake: its error dropped
		_, err := engine.Step(wctx, "after", func(context.Context) (int, error) { after++; return 0, nil })
		var c *engine.ContinuedError
		if !errors.As(err, &c) || c.TaskID != wctx.TaskID {
			return 0, engine.Permanent(errors.New("a step after ContinueAsNew did not return its ContinuedError"))
		}
		return 7, nil
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/dropped", 0)
	must(t, err)
	last := runChain(t, env, h.TaskID)
	if got, err := h.Result(ctx); err != nil || got != 101 || last == h.TaskID || after != 0 {
		t.Fatalf("result %d, %v, last run %d of %d, the step after ran %d times; want 101 from the next run, the step never run", got, err, last, h.TaskID, after)
	}
}

// TestEventToAContinuedRunNamesTheNextRun: an event or an update sent to a
// run that continued as new is refused (ErrEventRefused) naming the run
// that continues it, where the workflow now reads its events. The refusal
// said "task 1 is complete; no workflow will read it", while the workflow
// waited for that very event in the next run.
func TestEventToAContinuedRunNamesTheNextRun(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/contevent", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in == 0 {
			return 0, engine.ContinueAsNew(wctx, 1)
		}
		return engine.WaitEvent[int](wctx, "go", time.Hour)
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/contevent", 0)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	r, err := env.Runs(ctx, h.TaskID)
	must(t, err)
	want := fmt.Sprintf("task %d continued as new as task %d", h.TaskID, r.ContinuedAs)
	_, err = env.Engine.SendEvent(ctx, h.TaskID, "go", "", 1)
	if !errors.Is(err, engine.ErrEventRefused) || !strings.Contains(err.Error(), want) {
		t.Fatalf("SendEvent to the first run: %v; want ErrEventRefused saying %s", err, want)
	}
	_, err = engine.Update[int](ctx, env.Engine, h.TaskID, "bump", "u1", 1)
	if !errors.Is(err, engine.ErrEventRefused) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Update of the first run: %v; want ErrEventRefused saying %s", err, want)
	}
	if _, err := env.Engine.SendEvent(ctx, r.ContinuedAs, "go", "", 1); err != nil {
		t.Fatalf("SendEvent to the next run: %v", err)
	}
}

// TestContinueAsNewWhereTheHistoryGoesOnIsNotDeterministic: code that
// continues as new where the recorded history goes on (a deploy that
// continues every 2 steps replaying a run that continued after 3) is not
// deterministic: Replay says so, naming the recorded step the code no
// longer reaches. Replay returned nil, and a resumed run continued as new
// there, leaving the steps recorded after that point behind.
func TestContinueAsNewWhereTheHistoryGoesOnIsNotDeterministic(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	registerCounter(t, env.Engine)
	ctx := context.Background()
	h, err := engine.StartWorkflow[counterIn, int](ctx, env.Engine, "t/counter", counterIn{Total: 6, Per: 3})
	must(t, err)
	env.RunUntilDone(h.TaskID)
	testkit.Replay(t, env.Engine, h.TaskID)

	hist, err := env.WorkflowHistory(ctx, h.TaskID)
	must(t, err)
	other := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(other.Engine, "t/counter", func(wctx *engine.WorkflowContext, in counterIn) (int, error) {
		n := in.N
		for i := 0; i < 2 && n < in.Total; i++ { // a deploy continues every 2 steps
			v, err := engine.Step(wctx, "inc", func(ctx context.Context) (int, error) { return n + 1, nil })
			if err != nil {
				return 0, err
			}
			n = v
		}
		if n < in.Total {
			return 0, engine.ContinueAsNew(wctx, counterIn{N: n, Total: in.Total, Per: in.Per})
		}
		return n, nil
	}))
	err = other.ReplayHistory(ctx, hist)
	var nd *engine.NonDeterminismError
	if !errors.As(err, &nd) || nd.Sequence != 3 || nd.Recorded != `step "inc"` || nd.New != "ContinueAsNew" {
		t.Fatalf("ReplayHistory of code continuing earlier = %v (%+v); want not deterministic at sequence 3", err, nd)
	}
}

// TestQueryOfARunThatContinuedNamesTheNext: Query of a run that continued
// as new returns the state it last published together with an error
// wrapping a *ContinuedError that names the run continuing it (and where
// it published nothing, ErrNoQueryState with the same); the last run
// answers as any task does. Query answered the first run's last state as
// if it were the workflow's current one, without a word of the newer run.
func TestQueryOfARunThatContinuedNamesTheNext(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/contquery", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if err := engine.SetQueryState(wctx, "n", in); err != nil {
			return 0, err
		}
		if in == 1 {
			if err := engine.SetQueryState(wctx, "first", true); err != nil {
				return 0, err
			}
		}
		if in < 2 {
			return 0, engine.ContinueAsNew(wctx, in+1)
		}
		return in, nil
	}))
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/contquery", 1)
	must(t, err)
	last := runChain(t, env, h.TaskID)
	v, err := engine.Query[int](ctx, env.Engine, h.TaskID, "n")
	var c *engine.ContinuedError
	if v != 1 || !errors.As(err, &c) || c.TaskID != h.TaskID || c.Next != last || errors.Is(err, engine.ErrNoQueryState) {
		t.Errorf("Query of the continued run = %d, %v; want 1 with a *ContinuedError naming task %d", v, err, last)
	}
	_, err = engine.Query[bool](ctx, env.Engine, last, "first")
	if !errors.Is(err, engine.ErrNoQueryState) || errors.As(err, &c) {
		t.Errorf("Query of what the last run never published = %v; want ErrNoQueryState alone", err)
	}
	_, err = engine.Query[bool](ctx, env.Engine, h.TaskID, "later")
	if !errors.Is(err, engine.ErrNoQueryState) || !errors.As(err, &c) || c.Next != last {
		t.Errorf("Query of nothing published by the continued run = %v; want ErrNoQueryState with a *ContinuedError naming task %d", err, last)
	}
	if v, err := engine.Query[int](ctx, env.Engine, last, "n"); v != 2 || err != nil {
		t.Errorf("Query of the last run = %d, %v; want 2", v, err)
	}
}

// An idempotency key of ContinueAsNew's form (continue-of-<task id>) is
// refused at Start, creating nothing: the task took the identity of that
// task's next run, so Runs named it the next run of a run that never
// continued, and that run's ContinueAsNew found it and went on there.
// Keys that only look alike are keys as any other.
func TestStartRefusesAContinueAsNewKey(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/cont", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in >= 1 {
			return in, nil
		}
		return 0, engine.ContinueAsNew(wctx, in+1)
	}))
	run, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/cont", 5)
	must(t, err)
	key := fmt.Sprintf("continue-of-%d", run.TaskID)
	for _, start := range []func() error{
		func() error {
			_, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/cont", 0, engine.WithIdempotencyKey(key))
			return err
		},
		func() error {
			res, err := env.StartMany(ctx, []engine.StartRequest{{Workflow: "t/cont", Input: 0, Options: []engine.StartOption{engine.WithIdempotencyKey(key)}}})
			if err == nil {
				err = res[0].Err
			}
			return err
		},
	} {
		if err := start(); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), key) {
			t.Fatalf("a start keyed %q: %v; want store.ErrInvalid naming the key", key, err)
		}
	}
	env.RunUntilDone(run.TaskID)
	if r, err := env.Runs(ctx, run.TaskID); err != nil || r.ContinuedAs != 0 {
		t.Fatalf("Runs of a run that never continued: %+v, %v; want no next run", r, err)
	}
	if page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{Limit: 10}); err != nil || len(page.Tasks) != 1 {
		t.Fatalf("tasks after the refused starts: %v, %v; want the one run", page, err)
	}
	for _, ok := range []string{"continue-of-x", "continue-of-07", "continue-of-" + key} {
		_, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/cont", 1, engine.WithIdempotencyKey(ok))
		must(t, err)
	}
}
