package testkit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// With a fake clock that does not move, every row of a run shares one
// timestamp: History must still put each task move next to the step move
// that caused it, not all task rows first.
func TestHistoryOrdersRowsThatShareATimestamp(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("ok", func(sc *engine.StepContext) (any, error) { return 1, nil }))
	must(t, env.HandleFunc("no", func(sc *engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("declined")) }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "fail", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "ok"},
		{Name: "b", Handler: "no", DependsOn: []string{"a"}},
	}}))
	ctx := context.Background()
	start := env.Clock.Now()
	h, err := env.Start(ctx, "t/fail", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	must(t, env.Retry(ctx, h.TaskID))
	env.RunUntilDone(h.TaskID)
	if !env.Clock.Now().Equal(start) {
		t.Fatalf("the clock moved to %s: this test needs every row at one instant", env.Clock.Now())
	}
	env.AssertHistory(h.TaskID,
		"task pending",
		"step a: pending → in_progress",
		"task pending → in_progress",
		"step a: in_progress → complete",
		"step b: pending → in_progress",
		"step b: in_progress → error",
		"task in_progress → error",
		"task error → pending",
		"step b: error → pending",
		"step b: pending → in_progress",
		"task pending → in_progress",
		"step b: in_progress → error",
		"task in_progress → error",
	)
}

// A retried step: its backoff moves the clock, and the task completes
// after its last step.
func TestHistoryOfARetryAndAssertStepHistory(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ok := engine.HandlerFunc(func(sc *engine.StepContext) (any, error) { return sc.Attempt, nil })
	must(t, env.Handle("ok", ok))
	must(t, env.Handle("flaky", testkit.FailOnAttempts(ok, errors.New("flaky"), 1)))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "two", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "ok"},
		{Name: "b", Handler: "flaky", DependsOn: []string{"a"}},
	}}))
	ctx := context.Background()
	start := env.Clock.Now()
	h, err := env.Start(ctx, "t/two", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if !env.Clock.Now().After(start) {
		t.Fatal("the retry's backoff did not move the clock")
	}
	env.AssertHistory(h.TaskID,
		"task pending",
		"step a: pending → in_progress",
		"task pending → in_progress",
		"step a: in_progress → complete",
		"step b: pending → in_progress",
		"step b: in_progress → pending",
		"step b: pending → in_progress",
		"step b: in_progress → complete",
		"task in_progress → complete",
	)
	env.AssertStepHistory(h.TaskID, "b", "pending → in_progress", "in_progress → pending", "pending → in_progress", "in_progress → complete")
}

// DurableSteps reports the names the workflow code used; TaskDetail.Step
// finds the rows by them.
func TestDurableStepsUseTheCodeNames(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/wf", func(w *engine.WorkflowContext, n int) (int, error) {
		for range 2 {
			if _, err := engine.Step(w, "poll", func(context.Context) (int, error) { return n, nil }); err != nil {
				return 0, err
			}
		}
		if err := engine.Sleep(w, time.Hour); err != nil {
			return 0, err
		}
		return n, nil
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/wf", 7)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	got := env.DurableSteps(h.TaskID)
	want := []testkit.DurableStep{{1, "poll", "step", "complete", 1}, {2, "poll", "step", "complete", 1}, {3, "sleep", "sleep", "complete", 1}}
	if len(got) != len(want) {
		t.Fatalf("DurableSteps = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("DurableSteps[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := env.Task(h.TaskID).Step("poll"); s == nil || *s.Sequence != 1 {
		t.Fatalf(`Step("poll") = %+v, want the first call (sequence 1)`, s)
	}
}

// A step leased by a worker that died: RunUntilDone moves the clock past
// the lease's expiry (the rescue takes only leases already expired) and
// the step runs again.
func TestRunUntilDoneRescuesADeadWorkersLease(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ran := 0
	if err := env.HandleFunc("h", func(*engine.StepContext) (any, error) { ran++; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if err := env.Register(&engine.Template{Namespace: "t", Name: "dead", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}); err != nil {
		t.Fatal(err)
	}
	h, err := env.Start(context.Background(), "t/dead", nil)
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := env.Store.ClaimSteps(context.Background(), &store.ClaimStepsParams{Owner: "dead", Limit: 1, LeaseTTL: time.Minute, Now: env.Clock.Now()})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %d: %v", len(claimed), err)
	}
	env.RunUntilDone(h.TaskID)
	if d := env.Task(h.TaskID); d.Task.State != store.TaskComplete || ran != 1 {
		t.Fatalf("task %s after %d runs; want complete after one", d.Task.State, ran)
	}
}

// RunFor fires each schedule tick it passes, as a running engine's leader
// does, at the tick's time, and runs what it starts. Before, the clock
// went past the ticks and no schedule fired: a test of an hourly schedule
// saw no run in three hours (and FireSchedules after them started one,
// the backlog's ticks caught up as one).
func TestRunForFiresScheduleTicks(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	var ran []time.Time
	must(t, env.HandleFunc("report", func(*engine.StepContext) (any, error) {
		ran = append(ran, env.Clock.Now())
		return nil, nil
	}))
	must(t, env.Register(&engine.Template{Namespace: "ops", Name: "report", Steps: []engine.StepTemplate{{Name: "send", Handler: "report"}}}))
	_, err := env.Schedule(ctx, "hourly", "@every 1h", "ops/report", nil, engine.ScheduleOptions{})
	must(t, err)
	start := env.Clock.Now()
	env.RunFor(3*time.Hour + 30*time.Minute)
	var want []time.Time
	for h := 1; h <= 3; h++ {
		want = append(want, start.Add(time.Duration(h)*time.Hour))
	}
	if len(ran) != len(want) {
		t.Fatalf("the schedule's runs ran at %v; want one at each tick %v", ran, want)
	}
	for i := range want {
		if !ran[i].Equal(want[i]) {
			t.Fatalf("the schedule's runs ran at %v; want one at each tick %v", ran, want)
		}
	}
	page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{States: []store.TaskState{store.TaskComplete}, Limit: 10})
	must(t, err)
	if len(page.Tasks) != 3 {
		t.Fatalf("%d tasks complete, want the 3 runs", len(page.Tasks))
	}
}

// A parent waiting for a child that sleeps 60 days finishes: the parent's
// look-again every 5 minutes is the engine's safety net (the child's end
// wakes it), and RunUntilDone and RunFor skip over it to the child's
// wake-up. Before, those looks took a round each, and the rounds ran out
// 35 days in: "tasks [1] did not finish in 10000 rounds".
func TestRunSkipsAParentsLooksAtItsChild(t *testing.T) {
	defer testkit.SetMaxRounds(100)()
	for name, run := range map[string]func(env *testkit.Env, id int64){
		"RunUntilDone": func(env *testkit.Env, id int64) { env.RunUntilDone(id) },
		"RunFor":       func(env *testkit.Env, id int64) { env.RunFor(61 * 24 * time.Hour) },
	} {
		env := testkit.NewEngine(t, nil)
		must(t, engine.RegisterWorkflow(env.Engine, "t/renewal", func(w *engine.WorkflowContext, n int) (int, error) {
			return n, engine.Sleep(w, 60*24*time.Hour)
		}))
		must(t, engine.RegisterWorkflow(env.Engine, "t/subscription", func(w *engine.WorkflowContext, n int) (int, error) {
			return engine.Child[int](w, "t/renewal", n)
		}))
		h, err := engine.StartWorkflow[int, int](t.Context(), env.Engine, "t/subscription", 7)
		must(t, err)
		start := env.Clock.Now()
		run(env, h.TaskID)
		got, err := h.Result(t.Context())
		if err != nil || got != 7 {
			t.Fatalf("%s: result %d, %v; want 7", name, got, err)
		}
		if name == "RunUntilDone" && !env.Clock.Now().Equal(start.Add(60*24*time.Hour)) {
			t.Fatalf("%s: the clock is at %s, want the child's wake-up %s", name, env.Clock.Now(), start.Add(60*24*time.Hour))
		}
	}
}
