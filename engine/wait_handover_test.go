package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
)

// A commit of this process that finishes a task hands it to the process's
// waiters whole (Postgres returns it from the finishing statement of
// completions; otherwise the commit's group is read once,
// Store.GetTaskOutcomes):
// each Wait reads the task once, at its first look, and two waiters of
// one task decode their own copies of the results (a shared copy decoded
// twice would lose the codec's padding twice). A task that fails is
// handed over too.
func TestWaitTakesTheFinishedTaskFromTheCommit(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, fail := range []bool{false, true} {
			name := db + "/completes"
			if fail {
				name = db + "/fails"
			}
			t.Run(name, func(t *testing.T) { testWaitTakesTheFinishedTask(t, db, fail) })
		}
	}
}

func testWaitTakesTheFinishedTask(t *testing.T, db string, fail bool) {
	ctx := waitCtx()
	st := &doneReads{Store: openChaosStore(t, db)}
	cfg := chaosConfig(st, "w")
	cfg.Codec = &xorCodec{name: "xor/v1", pad: 3}
	cfg.Execution.PollInterval = time.Minute // no look but the first and the wake-up
	e := newEngine(t, cfg)
	release := make(chan struct{})
	must(t, e.HandleFunc("a", func(*engine.StepContext) (any, error) { <-release; return "a", nil }))
	must(t, e.HandleFunc("b", func(sc *engine.StepContext) (any, error) {
		a, err := engine.Result[string](sc, "a")
		if err != nil {
			return nil, err
		}
		if fail {
			return nil, engine.Permanent(errors.New("declined"))
		}
		return a + "b", nil
	}))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "ab", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "a"}, {Name: "b", Handler: "b", DependsOn: []string{"a"}}}}))
	run(t, e)
	h, err := e.Start(ctx, "t/ab", nil)
	must(t, err)
	type result struct {
		v   string
		err error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			out, err := h.Wait(ctx)
			var v string
			switch {
			case err != nil:
			case fail:
				v = string(out.State)
			default:
				err = out.Decode("b", &v)
			}
			results <- result{v, err}
		}()
	}
	// Both waiters have looked once (each registers before it looks).
	pgtest.WaitFor(t, "both waiters' first look", 20*time.Second, time.Millisecond, func() bool { return st.looks.Load() >= 2 })
	close(release)
	want := "ab"
	if fail {
		want = string(store.TaskError)
	}
	for range 2 {
		if r := <-results; r.err != nil || r.v != want {
			t.Fatalf("Wait gave %q, %v; want %q", r.v, r.err, want)
		}
	}
	if n := st.done.Load(); n != 0 {
		t.Fatalf("the waiters read the finished task %d times, want 0 (handed over by the commit)", n)
	}
}

// doneReads counts Wait's looks at tasks (reads of task outcomes under a
// context waiting marks), and those that found the task finished. The
// engine's own reads for its waiters (one per commit) are not counted.
type doneReads struct {
	store.Store
	looks, done atomic.Int64
}

// waiting marks the context of the test's Wait and Result calls.
type waiting struct{}

func waitCtx() context.Context { return context.WithValue(context.Background(), waiting{}, true) }

func (s *doneReads) GetTaskOutcomes(ctx context.Context, ids []int64) ([]*store.TaskOutcome, error) {
	got, err := s.Store.GetTaskOutcomes(ctx, ids)
	if ctx.Value(waiting{}) == nil {
		return got, err
	}
	s.looks.Add(int64(len(ids)))
	for _, d := range got {
		if d.State.Done() {
			s.done.Add(1)
		}
	}
	return got, err
}

// A handle keeps its task as the commit of this process that finished it
// handed it over (Postgres: returned by a commit of completions, made while
// the claim loop has no backlog; otherwise read once for the commit's
// group, FinishStepsResult.Finished and Store.GetTaskOutcomes): a Wait after the
// finish reads nothing, and gets the results; another handle of the task
// reads it.
func TestWaitAfterTheFinishReadsNothing(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) { testWaitAfterTheFinishReadsNothing(t, db) })
	}
}

func testWaitAfterTheFinishReadsNothing(t *testing.T, db string) {
	ctx := waitCtx()
	st := &doneReads{Store: openChaosStore(t, db)}
	e := newEngine(t, chaosConfig(st, "w"))
	must(t, e.HandleFunc("a", func(*engine.StepContext) (any, error) { return "a", nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "a", Steps: []engine.StepTemplate{{Name: "a", Handler: "a"}}}))
	must(t, engine.RegisterWorkflow(e, "t/code", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.Step(wctx, "double", func(context.Context) (int, error) { return 2 * in, nil })
	}))
	events, unsubscribe := e.Subscribe(16)
	defer unsubscribe()
	idleEngine(t, e) // one task at a time, the loop idle: on Postgres its commit is one statement
	finished := func(id int64, want string) {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if (ev.Name == engine.EventTaskFailed || ev.Name == engine.EventTaskCompleted) && ev.TaskID == id {
					if ev.Name != want {
						t.Fatalf("task %d: %s, want %s", id, ev.Name, want)
					}
					return
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("task %d did not finish in 20 s", id)
			}
		}
	}
	h, err := e.Start(ctx, "t/a", nil)
	must(t, err)
	finished(h.TaskID, engine.EventTaskCompleted)
	wh, err := engine.StartWorkflow[int, int](ctx, e, "t/code", 21)
	must(t, err)
	finished(wh.TaskID, engine.EventTaskCompleted)
	for range 2 { // twice: the kept task is shared, each Wait decodes a copy
		out, err := h.Wait(ctx)
		must(t, err)
		var v string
		if err := out.Decode("a", &v); err != nil || v != "a" {
			t.Fatalf("Wait's result: %q, %v; want \"a\"", v, err)
		}
		got, err := wh.Result(ctx)
		if err != nil || got != 42 {
			t.Fatalf("Result: %d, %v; want 42", got, err)
		}
	}
	if n := st.looks.Load(); n != 0 {
		t.Fatalf("Wait and Result read the store %d times, want 0 (the handles kept the finished tasks)", n)
	}
	if _, err := e.Wait(ctx, h.TaskID); err != nil {
		t.Fatal(err)
	}
	if n := st.looks.Load(); n != 1 {
		t.Fatalf("Engine.Wait read the store %d times, want 1", n)
	}
}

// Handles keep tasks by identity key, so a key's later run (identity
// reuse) shares the earlier run's slot: each handle's Wait still gets its
// own task.
func TestWaitKeepsEachRunOfAReusedKeyApart(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, chaosConfig(openChaosStore(t, "postgres"), "w"))
	must(t, e.HandleFunc("echo", func(sc *engine.StepContext) (any, error) {
		var in struct{ N int }
		err := sc.Input(&in)
		return in.N, err
	}))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "echo", Steps: []engine.StepTemplate{{Name: "a", Handler: "echo"}}}))
	run(t, e)
	key := engine.WithIdempotencyKey("the-key")
	first, err := e.Start(ctx, "t/echo", map[string]int{"n": 1}, key)
	must(t, err)
	if _, err := first.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	second, err := e.Start(ctx, "t/echo", map[string]int{"n": 2}, key, engine.WithIdentityReuse(engine.ReuseAfterDone))
	must(t, err)
	if second.Existing || second.TaskID == first.TaskID {
		t.Fatalf("the second start returned task %d (existing %v), want a new run", second.TaskID, second.Existing)
	}
	for range 2 { // before and after the second run's finish filled the shared slot
		for _, c := range []struct {
			h    *engine.TaskHandle
			want int
		}{{second, 2}, {first, 1}} {
			out, err := c.h.Wait(ctx)
			must(t, err)
			var got int
			if err := out.Decode("a", &got); err != nil || out.TaskID != c.h.TaskID || got != c.want {
				t.Fatalf("Wait of task %d: task %d, result %d (%v); want its own result %d", c.h.TaskID, out.TaskID, got, err, c.want)
			}
		}
	}
}
