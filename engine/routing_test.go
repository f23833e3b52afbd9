package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/testkit"
)

// Two engines on one database with disjoint handler sets: every step runs
// in the engine that has its handler, no attempt is wasted, no task fails.
func TestDisjointHandlerSetsShareOneDatabase(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "shared.db")
		disjointHandlers(t, func() store.Store {
			s, err := sqlite.Open(context.Background(), path, nil)
			must(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url, schema := pgtest.URL(t), pgtest.NewSchema(t)
		disjointHandlers(t, func() store.Store {
			s, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema})
			must(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

func disjointHandlers(t *testing.T, open func() store.Store) {
	ctx := context.Background()
	const workflows = 300
	type ran struct{ engine, step string }
	var mu sync.Mutex
	runs := map[ran]int{}
	handler := func(engineName string) engine.HandlerFunc {
		return func(sc *engine.StepContext) (any, error) {
			mu.Lock()
			runs[ran{engineName, sc.Step}]++
			mu.Unlock()
			return sc.Step, nil
		}
	}
	tmpl := func() *engine.Template {
		return &engine.Template{Namespace: "shop", Name: "order", Steps: []engine.StepTemplate{
			{Name: "charge", Handler: "shop.charge"},
			{Name: "pack", Handler: "shop.pack", DependsOn: []string{"charge"}},
			{Name: "ship", Handler: "shop.ship", DependsOn: []string{"pack"}},
		}}
	}
	// Payments serves charge and ship; the warehouse serves pack.
	payments := newEngine(t, engine.Config{Store: open(), WorkerID: "payments"})
	must(t, payments.HandleFunc("shop.charge", handler("payments")))
	must(t, payments.HandleFunc("shop.ship", handler("payments")))
	must(t, payments.Register(tmpl()))
	warehouse := newEngine(t, engine.Config{Store: open(), WorkerID: "warehouse"})
	must(t, warehouse.HandleFunc("shop.pack", handler("warehouse")))
	must(t, warehouse.Register(tmpl()))

	var handles []*engine.TaskHandle
	for i := range workflows {
		h, err := payments.Start(ctx, "shop/order", map[string]int{"order": i})
		must(t, err)
		handles = append(handles, h)
	}
	run(t, payments)
	run(t, warehouse)
	for _, h := range handles {
		out, err := h.Wait(ctx)
		must(t, err)
		if out.State != store.TaskComplete {
			t.Fatalf("task %d ended %s: %v", h.TaskID, out.State, out.Err())
		}
	}
	want := map[ran]int{{"payments", "charge"}: workflows, {"warehouse", "pack"}: workflows, {"payments", "ship"}: workflows}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(runs) != fmt.Sprint(want) {
		t.Fatalf("steps ran %v, want %v", runs, want)
	}
	if st := payments.Stats().StepsRetried + warehouse.Stats().StepsRetried + payments.Stats().StepsFailed + warehouse.Stats().StepsFailed; st != 0 {
		t.Fatalf("%d attempts wasted", st)
	}
}

// A rolling deploy: v1 lacks the handler of a step v2 adds. Tasks started
// by v2 wait at that step, costing no attempt, until a v2 worker runs.
func TestRollingDeployStepWaitsForItsHandler(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil) // v1
	must(t, env.HandleFunc("a", func(*engine.StepContext) (any, error) { return "a", nil }))
	v2tmpl := &engine.Template{Namespace: "t", Name: "deploy", Version: "2", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "a"},
		{Name: "b", Handler: "b.new", DependsOn: []string{"a"}},
	}}
	v2, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock.Fake, WorkerID: "v2"})
	must(t, err)
	must(t, v2.HandleFunc("a", func(*engine.StepContext) (any, error) { return "a", nil }))
	must(t, v2.HandleFunc("b.new", func(*engine.StepContext) (any, error) { return "b", nil }))
	must(t, v2.Register(v2tmpl))
	must(t, env.Register(v2tmpl)) // v1 knows the template (a shared YAML file, say) but not b.new
	h, err := v2.Start(ctx, "t/deploy", nil)
	must(t, err)

	for range 3 {
		if _, err := env.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	d := env.Task(h.TaskID)
	if a, b := d.Step("a"), d.Step("b"); a.State != store.StepComplete || b.State != store.StepPending || b.Attempts != 0 {
		t.Fatalf("after v1 ran: a %s, b %s with %d attempts; want b waiting with none", a.State, b.State, b.Attempts)
	}
	if n, err := v2.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("v2 ran %d: %v", n, err)
	}
	if d := env.Task(h.TaskID); d.Task.State != store.TaskComplete || d.Step("b").Attempts != 1 {
		t.Fatalf("after v2 ran: task %s, b attempts %d", d.Task.State, d.Step("b").Attempts)
	}
}

// Queues: a worker claims only the queues it serves; WithQueue overrides
// the template's; children inherit the parent's queue.
func TestQueues(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Execution: engine.ExecutionConfig{Queues: []string{"default"}}}})
	oneStep(t, env.Engine, "work", func(*engine.StepContext) (any, error) { return nil, nil }, engine.StepTemplate{})
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "bulk", Queue: "bulk", Steps: []engine.StepTemplate{{Name: "only", Handler: "work"}}}))
	here := mustStart(t, env.Engine, "t/work", nil)
	bulk := mustStart(t, env.Engine, "t/bulk", nil)
	moved, err := env.Start(ctx, "t/work", map[string]int{"n": 1}, engine.WithQueue("bulk"))
	must(t, err)
	if n, err := env.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("ran %d: %v; want only the default queue's step", n, err)
	}
	for id, want := range map[int64]store.TaskState{here: store.TaskComplete, bulk: store.TaskPending, moved.TaskID: store.TaskPending} {
		if d := env.Task(id); d.Task.State != want || (want == store.TaskPending && d.Task.Queue != "bulk") {
			t.Fatalf("task %d: %s on queue %q, want %s", id, d.Task.State, d.Task.Queue, want)
		}
	}
	// A worker serving "bulk" runs them.
	bulkWorker, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock.Fake, WorkerID: "bulk", Execution: engine.ExecutionConfig{Queues: []string{"bulk"}}})
	must(t, err)
	must(t, bulkWorker.HandleFunc("work", func(*engine.StepContext) (any, error) { return nil, nil }))
	if n, err := bulkWorker.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("the bulk worker ran %d: %v", n, err)
	}

	// A child workflow runs on its parent's queue.
	must(t, engine.RegisterWorkflow(env.Engine, "t/child", func(*engine.WorkflowContext, int) (int, error) { return 1, nil }))
	must(t, engine.RegisterWorkflow(env.Engine, "t/parent", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.Child[int](wctx, "t/child", 1)
	}))
	p, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/parent", 1, engine.WithQueue("default"))
	must(t, err)
	q, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/parent", 2, engine.WithQueue("vip"))
	must(t, err)
	env.RunUntilDone(p.TaskID)
	if _, err := env.RunOnce(ctx); err != nil { // the vip parent is not served here
		t.Fatal(err)
	}
	kids, err := env.Store.ListTasks(ctx, &store.ListTasksParams{ParentID: &p.TaskID, Limit: 10})
	must(t, err)
	if len(kids.Tasks) != 1 || kids.Tasks[0].Queue != "default" {
		t.Fatalf("children of the default-queue parent: %+v", kids.Tasks)
	}
	if d := env.Task(q.TaskID); d.Task.Queue != "vip" || d.Task.State != store.TaskPending {
		t.Fatalf("the vip parent: %s on %q", d.Task.State, d.Task.Queue)
	}
}

// Priorities: with one slot, high-priority tasks started after 100 low ones
// run first; an ageing turn lets low ones through a continuous high flood.
func TestPriorities(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Execution: engine.ExecutionConfig{BatchSize: 1, MaxConcurrency: 1}}})
	var order []int
	flood := 0 // high tasks still to start, one per high run
	oneStep(t, env.Engine, "work", func(sc *engine.StepContext) (any, error) {
		var in struct{ P, N int }
		must(t, sc.Input(&in))
		order = append(order, in.P)
		if in.P == 10 && flood > 0 {
			flood--
			_, err := env.Start(sc, "t/work", map[string]int{"P": 10, "N": 10_000 + flood}, engine.WithPriority(10))
			return nil, err
		}
		return nil, nil
	}, engine.StepTemplate{})
	start := func(p, n int) {
		_, err := env.Start(ctx, "t/work", map[string]int{"P": p, "N": n}, engine.WithPriority(p))
		must(t, err)
	}
	for n := range 100 {
		start(0, n)
	}
	for n := range 10 {
		start(10, n)
	}
	if _, err := env.RunOnce(ctx); err != nil { // one step per claim, until none is ready
		t.Fatal(err)
	}
	high := 0
	for _, p := range order[:10] {
		if p == 10 {
			high++
		}
	}
	// One claim in ten is an ageing turn: at most one low task among the
	// first ten.
	if len(order) != 110 || high < 9 {
		t.Fatalf("%d runs, the first ten of priorities %v: high priority did not go first", len(order), order[:10])
	}

	// A continuous flood: every high run starts another high task. Low
	// tasks still get through: every tenth claim takes the longest-waiting
	// step, whatever its priority.
	order, flood = order[:0], 300
	for n := range 100 {
		start(0, 100+n)
	}
	start(10, 999)
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	low := 0
	for _, p := range order[:100] {
		if p == 0 {
			low++
		}
	}
	t.Logf("under a continuous high-priority flood, %d of the first 100 runs were low priority", low)
	if low < 5 || low > 20 {
		t.Fatalf("%d low-priority runs in the first 100 under a high-priority flood: want about one in ten", low)
	}
}

// Bad routing input is refused where it is made, and nothing is written.
func TestBadRoutingInputIsRefused(t *testing.T) {
	ctx := context.Background()
	for _, qs := range [][]string{{""}, {"a", "a"}, {"bad\x00"}} {
		if _, err := engine.New(engine.Config{Store: testkit.NewEngine(t, nil).Store, Execution: engine.ExecutionConfig{Queues: qs}}); err == nil || !strings.Contains(err.Error(), "queues[") {
			t.Fatalf("queues %q: %v", qs, err)
		}
	}
	env := testkit.NewEngine(t, nil)
	oneStep(t, env.Engine, "work", func(*engine.StepContext) (any, error) { return nil, nil }, engine.StepTemplate{})
	for _, opt := range []engine.StartOption{engine.WithPriority(-1), engine.WithPriority(1001), engine.WithQueue("bad\x00q")} {
		if _, err := env.Start(ctx, "t/work", nil, opt); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("start: %v, want store.ErrInvalid", err)
		}
	}
	if page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{Limit: 10}); err != nil || len(page.Tasks) != 0 {
		t.Fatalf("refused starts wrote tasks (%v)", err)
	}
}

// A poll interval under a millisecond is refused where it is given: idle
// workers would query the database in a loop (`tasker worker --poll 1ns`).
func TestPollIntervalBelowAMillisecondIsRefused(t *testing.T) {
	st := testkit.NewEngine(t, nil).Store
	for _, d := range []time.Duration{time.Nanosecond, 999 * time.Microsecond} {
		_, err := engine.New(engine.Config{Store: st, Execution: engine.ExecutionConfig{PollInterval: d}})
		if err == nil || !strings.Contains(err.Error(), "poll interval") || !strings.Contains(err.Error(), d.String()) {
			t.Fatalf("PollInterval %s: err %v, want a refusal naming the poll interval and %s", d, err, d)
		}
	}
	if _, err := engine.New(engine.Config{Store: st, Execution: engine.ExecutionConfig{PollInterval: engine.MinPollInterval}}); err != nil {
		t.Fatalf("PollInterval of MinPollInterval refused: %v", err)
	}
}
