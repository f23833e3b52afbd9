package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/testkit"
)

// 10,000 items, 1 % reusing another item's key with another input and 1 %
// with an invalid input: the valid ones are created once, each bad one is
// reported by its index, and a rolled-back caller transaction leaves
// nothing. On SQLite with 10,000 items, on Postgres with 2,000.
func TestStartMany(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		env := testkit.NewEngine(t, &testkit.Options{File: true})
		startMany(t, env.Engine, env.Store, 10_000)
	})
	t.Run("postgres", func(t *testing.T) {
		url, schema := pgtest.URL(t), pgtest.NewSchema(t)
		s, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		startMany(t, newEngine(t, engine.Config{Store: s}), s, 2_000)
	})
}

func startMany(t *testing.T, e *engine.Engine, st store.Store, n int) {
	ctx := context.Background()
	env := struct {
		*engine.Engine
		Store store.Store
	}{e, st}
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "bulk",
		InputSchema: []byte(`{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}`),
		Steps:       []engine.StepTemplate{{Name: "only", Handler: "h"}}}))
	reqs := make([]engine.StartRequest, n)
	for i := range reqs {
		key := fmt.Sprint("order-", i)
		var input any = map[string]int{"n": i}
		switch i % 100 {
		case 1:
			key = fmt.Sprint("order-", i-1) // taken by item i-1, another input
		case 2:
			input = map[string]string{"n": "not a number"}
		}
		reqs[i] = engine.StartRequest{Workflow: "t/bulk", Input: input, Options: []engine.StartOption{engine.WithIdempotencyKey(key)}}
	}
	res, err := env.StartMany(ctx, reqs)
	must(t, err)
	created := map[int64]bool{}
	for i, r := range res {
		switch i % 100 {
		case 1:
			if !errors.Is(r.Err, store.ErrConflict) || r.Handle != nil {
				t.Fatalf("item %d (a taken key): %v", i, r.Err)
			}
		case 2:
			if !errors.Is(r.Err, engine.ErrInvalidInput) || r.Handle != nil || !strings.Contains(r.Err.Error(), fmt.Sprintf("item %d ", i)) {
				t.Fatalf("item %d (an invalid input): %v", i, r.Err)
			}
		default:
			if r.Err != nil || r.Handle == nil || r.Handle.Existing || created[r.Handle.TaskID] {
				t.Fatalf("item %d: %+v", i, r)
			}
			created[r.Handle.TaskID] = true
		}
	}
	if len(created) != n-2*n/100 {
		t.Fatalf("%d tasks created", len(created))
	}
	counts, err := env.Store.CountByState(ctx)
	must(t, err)
	if counts.Tasks[store.TaskPending] != n-2*n/100 {
		t.Fatalf("the store holds %d pending tasks", counts.Tasks[store.TaskPending])
	}
	// Starting the same items again finds them.
	again, err := env.StartMany(ctx, reqs[:10])
	must(t, err)
	if again[0].Err != nil || !again[0].Handle.Existing || again[0].Handle.TaskID != res[0].Handle.TaskID {
		t.Fatalf("a repeated start: %+v", again[0])
	}

	// Inside a caller's transaction that rolls back: nothing.
	tx, err := env.Store.DB().BeginTx(ctx, nil)
	must(t, err)
	more := []engine.StartRequest{{Workflow: "t/bulk", Input: map[string]int{"n": -1}}, {Workflow: "t/bulk", Input: map[string]int{"n": -2}}}
	inTx, err := env.StartMany(ctx, more, engine.InTx(tx))
	must(t, err)
	if inTx[0].Err != nil || inTx[1].Err != nil {
		t.Fatalf("in a transaction: %v, %v", inTx[0].Err, inTx[1].Err)
	}
	must(t, tx.Rollback())
	after, err := env.Store.CountByState(ctx)
	must(t, err)
	if after.Tasks[store.TaskPending] != counts.Tasks[store.TaskPending] {
		t.Fatalf("a rolled-back StartMany left %d tasks", after.Tasks[store.TaskPending]-counts.Tasks[store.TaskPending])
	}
	// An item cannot bring its own transaction.
	bad, err := env.StartMany(ctx, []engine.StartRequest{{Workflow: "t/bulk", Input: map[string]int{"n": 1}, Options: []engine.StartOption{engine.InTx(env.Store.DB())}}})
	must(t, err)
	if bad[0].Err == nil {
		t.Fatal("an item with its own InTx was accepted")
	}
}

// Code-first workflows start in bulk too, their input type checked at
// Start; the typed handle comes from GetWorkflow.
func TestStartManyCodeFirst(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	type order struct{ N int }
	must(t, engine.RegisterWorkflow(env.Engine, "t/double", func(wctx *engine.WorkflowContext, in order) (int, error) {
		return engine.Step(wctx, "double", func(context.Context) (int, error) { return 2 * in.N, nil })
	}))
	res, err := env.StartMany(ctx, []engine.StartRequest{
		{Workflow: "t/double", Input: order{N: 1}},
		{Workflow: "t/double", Input: map[string]int{"N": 2}}, // not the registered type
		{Workflow: "t/double", Input: order{N: 3}},
		{Workflow: "t/nope", Input: order{N: 4}},
	})
	must(t, err)
	if !errors.Is(res[1].Err, engine.ErrTypeMismatch) || !errors.Is(res[3].Err, engine.ErrUnknownTemplate) && !errors.Is(res[3].Err, engine.ErrUnknownWorkflow) {
		t.Fatalf("refusals: %v; %v", res[1].Err, res[3].Err)
	}
	for i, want := range map[int]int{0: 2, 2: 6} {
		h := engine.GetWorkflow[int](env.Engine, res[i].Handle.TaskID)
		env.RunUntilDone(h.TaskID)
		if got, err := h.Result(ctx); err != nil || got != want {
			t.Fatalf("item %d: %d, %v; want %d", i, got, err, want)
		}
	}
}

// TestStartManyRefusesACommonKey: WithIdempotencyKey among StartMany's
// options (those of every item) is refused, naming it, and nothing is
// created; each item took the same key, so the first item's task was
// created and every other item found it (same input) or was refused with a
// conflict (another input). In an item's Options it works as in Start.
func TestStartManyRefusesACommonKey(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, env.HandleFunc("noop", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "many", Steps: []engine.StepTemplate{{Name: "a", Handler: "noop"}}}))
	reqs := []engine.StartRequest{{Workflow: "t/many", Input: map[string]int{"i": 1}}, {Workflow: "t/many", Input: map[string]int{"i": 2}}}
	res, err := env.StartMany(ctx, reqs, engine.WithIdempotencyKey("k"))
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `WithIdempotencyKey("k") given to StartMany`) || res != nil {
		t.Fatalf("StartMany with a common key: %+v, %v; want store.ErrInvalid naming the option", res, err)
	}
	if _, err := env.TaskByKey(ctx, "t/many", "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused StartMany created a task: %v", err)
	}
	reqs[0].Options = []engine.StartOption{engine.WithIdempotencyKey("k")}
	res, err = env.StartMany(ctx, reqs)
	must(t, err)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	if d, err := env.TaskByKey(ctx, "t/many", "k"); err != nil || d.ID != res[0].Handle.TaskID {
		t.Fatalf("the item's key: %+v, %v", d, err)
	}
}

// TestStartManyRefusesACommonIdentityReuse: WithIdentityReuse among
// StartMany's options (those of every item), which StartMany does not
// support, refuses the call, naming it, before anything is written; every
// item failed on its own with the same error. In an item's Options it
// still fails that item.
func TestStartManyRefusesACommonIdentityReuse(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, env.HandleFunc("noop", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "many", Steps: []engine.StepTemplate{{Name: "a", Handler: "noop"}}}))
	reqs := []engine.StartRequest{{Workflow: "t/many", Input: map[string]int{"i": 1}, Options: []engine.StartOption{engine.WithIdempotencyKey("k")}}, {Workflow: "t/many", Input: map[string]int{"i": 2}}}
	res, err := env.StartMany(ctx, reqs, engine.WithIdentityReuse(engine.ReuseAfterDone))
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `WithIdentityReuse(1) given to StartMany`) || res != nil {
		t.Fatalf("StartMany with a common reuse policy: %+v, %v; want store.ErrInvalid naming the option", res, err)
	}
	page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{})
	must(t, err)
	if len(page.Tasks) != 0 {
		t.Fatalf("a refused StartMany created %d tasks", len(page.Tasks))
	}
}

// TestStartManyRefusesMistakenSharedOptions: a mistake among StartMany's
// own options refuses the call, naming it, before anything is written, as
// a common key does. Every item failed on its own, each result repeating
// the same error, and the call returned no error.
func TestStartManyRefusesMistakenSharedOptions(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, env.HandleFunc("noop", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "many", Steps: []engine.StepTemplate{{Name: "a", Handler: "noop"}}}))
	reqs := []engine.StartRequest{{Workflow: "t/many", Input: map[string]int{"i": 1}, Options: []engine.StartOption{engine.WithQueue("urgent")}}, {Workflow: "t/many", Input: map[string]int{"i": 2}}}
	for _, c := range []struct {
		opts []engine.StartOption
		want string
	}{
		{[]engine.StartOption{engine.WithQueue("")}, `WithQueue(""): the queue is empty`},
		{[]engine.StartOption{engine.WithPriority(5000)}, "WithPriority(5000)"},
		{[]engine.StartOption{engine.WithQueue("a"), engine.WithQueue("b")}, `WithQueue given twice, with "a" and "b"`},
		{[]engine.StartOption{engine.StartAfter(-time.Second)}, "StartAfter(-1s): the delay is negative"},
		// (Each of these two fits; counted from the delay, the timeout
		// overflows: every item failed with it, the call answered nil.)
		{[]engine.StartOption{engine.StartAfter(200 * 365 * 24 * time.Hour), engine.WithWorkflowTimeout(100 * 365 * 24 * time.Hour)}, "WithWorkflowTimeout(876000h0m0s): counted from the delayed start"},
	} {
		res, err := env.StartMany(ctx, reqs, c.opts...)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) || res != nil {
			t.Fatalf("StartMany with %q: %+v, %v; want store.ErrInvalid naming it", c.want, res, err)
		}
	}
	page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{})
	must(t, err)
	if len(page.Tasks) != 0 {
		t.Fatalf("a refused StartMany created %d tasks", len(page.Tasks))
	}
}

// TestStartManyItemOptionsOverrideShared: an item's option replaces the
// same one given to the whole StartMany; given twice in one item's
// Options with different values, it fails that item alone.
func TestStartManyItemOptionsOverrideShared(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, env.HandleFunc("noop", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "many", Steps: []engine.StepTemplate{{Name: "a", Handler: "noop"}}}))
	reqs := []engine.StartRequest{
		{Workflow: "t/many", Input: map[string]int{"i": 1}},
		{Workflow: "t/many", Input: map[string]int{"i": 2}, Options: []engine.StartOption{engine.WithQueue("urgent"), engine.WithPriority(5)}},
		{Workflow: "t/many", Input: map[string]int{"i": 3}, Options: []engine.StartOption{engine.WithQueue("a"), engine.WithQueue("b")}},
	}
	res, err := env.StartMany(ctx, reqs, engine.WithQueue("bulk"), engine.WithPriority(1))
	must(t, err)
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("items 0 and 1: %v, %v; want both started", res[0].Err, res[1].Err)
	}
	if err := res[2].Err; !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `WithQueue given twice, with "a" and "b"`) {
		t.Fatalf("item 2 (WithQueue twice): %v; want store.ErrInvalid naming WithQueue and both values", err)
	}
	for i, want := range []struct {
		queue    string
		priority int
	}{{"bulk", 1}, {"urgent", 5}} {
		d, err := env.Store.GetTask(ctx, res[i].Handle.TaskID)
		must(t, err)
		if d.Task.Queue != want.queue || d.Task.Priority != want.priority {
			t.Errorf("item %d: queue %q, priority %d; want %q, %d", i, d.Task.Queue, d.Task.Priority, want.queue, want.priority)
		}
	}
	page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{})
	must(t, err)
	if len(page.Tasks) != 2 {
		t.Fatalf("%d tasks; want the 2 items started", len(page.Tasks))
	}
}

// A key of any length is accepted (one too long for the store is kept as
// its hash), and the errors that name it quote its start, cut: StartMany's
// refusal of a shared key and TaskByKey's not found repeated it whole, a
// message of a megabyte for a key of one.
func TestErrorsCutALongKey(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, env.HandleFunc("noop", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "many", Steps: []engine.StepTemplate{{Name: "a", Handler: "noop"}}}))
	key := strings.Repeat("k", 1<<20)
	_, manyErr := env.StartMany(ctx, []engine.StartRequest{{Workflow: "t/many"}}, engine.WithIdempotencyKey(key))
	_, byKeyErr := env.TaskByKey(ctx, "t/many", key)
	for name, err := range map[string]error{"StartMany": manyErr, "TaskByKey": byKeyErr} {
		if err == nil || len(err.Error()) > 1000 || !strings.Contains(err.Error(), `"kkkkkkkkkk`) {
			t.Errorf("%s with a key of 1 MiB: an error of %d bytes, want one under 1000 quoting the key's start", name, len(fmt.Sprint(err)))
		}
	}
	if !errors.Is(manyErr, store.ErrInvalid) || !errors.Is(byKeyErr, store.ErrNotFound) {
		t.Fatalf("StartMany: %.200v; TaskByKey: %.200v", manyErr, byKeyErr)
	}
	h, err := env.Start(ctx, "t/many", nil, engine.WithIdempotencyKey(key))
	must(t, err)
	if d, err := env.TaskByKey(ctx, "t/many", key); err != nil || d.ID != h.TaskID {
		t.Fatalf("TaskByKey of the key's task: %+v, %.200v", d, err)
	}
}

// A StartMany item takes the inputs StartWorkflow takes: a value of a
// workflow whose input type is an interface (any) and a nil for one whose
// input type can be nil (a pointer); each runs with it. StartMany compared
// the value's own type with the registered one, so a workflow taking any
// could never start in bulk, nor a pointer one with nil. Other types are
// still refused.
func TestStartManyTakesWhatStartWorkflowTakes(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	type order struct{ N int }
	must(t, engine.RegisterWorkflow(env.Engine, "t/any", func(wctx *engine.WorkflowContext, in any) (string, error) {
		return fmt.Sprint(in), nil
	}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/ptr", func(wctx *engine.WorkflowContext, in *order) (string, error) {
		return fmt.Sprint(in == nil), nil
	}))
	res, err := env.StartMany(ctx, []engine.StartRequest{
		{Workflow: "t/any", Input: 7},
		{Workflow: "t/ptr", Input: nil},
		{Workflow: "t/ptr", Input: order{N: 1}}, // not a pointer
	})
	must(t, err)
	if !errors.Is(res[2].Err, engine.ErrTypeMismatch) || !strings.Contains(res[2].Err.Error(), "item 2 ") {
		t.Errorf("item 2, an order for a *order: %v; want ErrTypeMismatch naming the item", res[2].Err)
	}
	for i, want := range []string{"7", "true"} {
		if res[i].Err != nil {
			t.Errorf("item %d: %v", i, res[i].Err)
			continue
		}
		h := engine.GetWorkflow[string](env.Engine, res[i].Handle.TaskID)
		env.RunUntilDone(h.TaskID)
		if got, err := h.Result(ctx); err != nil || got != want {
			t.Errorf("item %d: %q, %v; want %q", i, got, err, want)
		}
	}
}

// A chunk whose transaction the database refuses for one item (a
// constraint no check foresees: here the application's trigger) is
// retried item by item, as Start's group commit is: that item fails alone,
// by its index, and the others are created and run. The whole call failed,
// and none of the chunk was created.
func TestStartManyItemTheDatabaseRefusesFailsAlone(t *testing.T) {
	ctx := context.Background()
	env := poisonRefusingEngine(t)
	res, err := env.StartMany(ctx, []engine.StartRequest{
		{Workflow: "t/bulk", Input: map[string]string{"v": "a"}},
		{Workflow: "t/bulk", Input: map[string]string{"v": "poison"}},
		{Workflow: "t/bulk", Input: map[string]string{"v": "c"}},
	})
	if err != nil {
		t.Fatalf("StartMany: %v, want the refused item to fail alone", err)
	}
	if err := res[1].Err; err == nil || !strings.Contains(err.Error(), "starting item 1 (t/bulk)") || !strings.Contains(err.Error(), "poison refused") {
		t.Fatalf("the refused item: %v, want its index and the database's refusal", err)
	}
	for _, i := range []int{0, 2} {
		if res[i].Err != nil {
			t.Fatalf("item %d: %v", i, res[i].Err)
		}
		env.RunUntilDone(res[i].Handle.TaskID)
		if d := env.Task(res[i].Handle.TaskID); d.Task.State != store.TaskComplete {
			t.Fatalf("item %d: task %s", i, d.Task.State)
		}
	}
}

// In the caller's transaction a refused chunk is not retried (the
// transaction is aborted): StartMany returns the database's refusal as the
// call's error, and nothing it wrote survives the rollback.
func TestStartManyInTxItemTheDatabaseRefusesFailsTheCall(t *testing.T) {
	ctx := context.Background()
	env := poisonRefusingEngine(t)
	tx, err := env.Store.DB().BeginTx(ctx, nil)
	must(t, err)
	res, err := env.StartMany(ctx, []engine.StartRequest{
		{Workflow: "t/bulk", Input: map[string]string{"v": "a"}},
		{Workflow: "t/bulk", Input: map[string]string{"v": "poison"}},
	}, engine.InTx(tx))
	if err == nil || !strings.Contains(err.Error(), "poison refused") {
		t.Fatalf("StartMany in a transaction: %v, want the database's refusal as the call's error", err)
	}
	for i, r := range res {
		if r.Handle != nil {
			t.Errorf("item %d: a handle (task %d) from a refused transaction", i, r.Handle.TaskID)
		}
	}
	must(t, tx.Rollback())
	var n int
	must(t, env.Store.DB().NewRaw("SELECT count(*) FROM tasker_tasks").Scan(ctx, &n))
	if n != 0 {
		t.Fatalf("%d tasks after the rollback, want none", n)
	}
}

// poisonRefusingEngine is an engine on a SQLite file with the one-step
// workflow t/bulk, whose tasks table refuses (an application's trigger,
// which no check of the engine's foresees) an input holding "poison".
func poisonRefusingEngine(t *testing.T) *testkit.Env {
	t.Helper()
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	oneStep(t, env.Engine, "bulk", func(*engine.StepContext) (any, error) { return nil, nil }, engine.StepTemplate{})
	_, err := env.Store.DB().ExecContext(context.Background(), `CREATE TRIGGER refuse_poison BEFORE INSERT ON tasker_tasks
		WHEN NEW.context LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'poison refused'); END`)
	must(t, err)
	return env
}
