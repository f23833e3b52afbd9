package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// TestStartOptionMistakesAreRefused: a nil option, an empty idempotency
// key, Unique with a key, InTx(nil), a workflow timeout that is not
// positive, an empty concurrency group or queue, a concurrency limit below
// 1, a priority out of range and StartAt with StartAfter are refused by
// Start, StartWorkflow
// and StartMany alike (errors.Is store.ErrInvalid, naming the option), and
// nothing is written; so are a group or queue the store would refuse (too
// long, a NUL byte), which the store refused naming its columns. Before,
// the nil option panicked and the others were
// honoured in part (Unique dropped the key; an empty key, a nil tx and a
// negative timeout were ignored; so was an empty queue; the last of
// StartAt/StartAfter won; the store's refusals named its columns,
// conc_max and priority, not the options).
func TestStartOptionMistakesAreRefused(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	must(t, engine.RegisterWorkflow(e, "t/code", func(_ *engine.WorkflowContext, in int) (int, error) { return in, nil }))
	later := time.Now().Add(time.Hour)
	for _, c := range []struct {
		name string
		opts []engine.StartOption
		want string
	}{
		{"nil option", []engine.StartOption{engine.WithPriority(1), nil}, "start option 1 (counting from 0) is nil"},
		{"empty key", []engine.StartOption{engine.WithIdempotencyKey("")}, `WithIdempotencyKey(""): the key is empty`},
		{"unique with key", []engine.StartOption{engine.Unique(), engine.WithIdempotencyKey("k")}, "Unique and WithIdempotencyKey both given"},
		{"nil tx", []engine.StartOption{engine.InTx(nil)}, "InTx(nil)"},
		{"negative timeout", []engine.StartOption{engine.WithWorkflowTimeout(-time.Second)}, "WithWorkflowTimeout(-1s): the timeout must be positive"},
		{"zero timeout", []engine.StartOption{engine.WithWorkflowTimeout(0)}, "WithWorkflowTimeout(0s): the timeout must be positive"},
		// A bare number is nanoseconds (30 meant 30 s): it was accepted,
		// and the task timed out before its first step ran.
		{"nanosecond timeout", []engine.StartOption{engine.WithWorkflowTimeout(30)}, "WithWorkflowTimeout(30ns): the timeout is under a millisecond"},
		{"empty group", []engine.StartOption{engine.WithConcurrency("", 3)}, `WithConcurrency("", 3): the group is empty`},
		{"zero limit", []engine.StartOption{engine.WithConcurrency("g", 0)}, `WithConcurrency("g", 0): the limit must be at least 1`},
		{"limit past 32 bits", []engine.StartOption{engine.WithConcurrency("g", store.MaxCount+1)}, `WithConcurrency("g", 2147483648): the limit must be at least 1 and at most 2147483647`},
		{"empty queue", []engine.StartOption{engine.WithQueue("")}, `WithQueue(""): the queue is empty`},
		{"long group", []engine.StartOption{engine.WithConcurrency(strings.Repeat("g", 300), 3)}, `WithConcurrency("gggggggggggggggggggggggggggggggggggggggg"…, 3): group "ggg`},
		// (The limit's refusal quoted a long group whole: a megabyte.)
		{"long group, zero limit", []engine.StartOption{engine.WithConcurrency(strings.Repeat("g", 1<<20), 0)}, `WithConcurrency("gggggggggggggggggggggggggggggggggggggggg"…, 0): the limit must be at least 1`},
		{"NUL group", []engine.StartOption{engine.WithConcurrency("g\x00", 3)}, `WithConcurrency("g\x00", 3): group "g\x00" contains a NUL byte`},
		{"long queue", []engine.StartOption{engine.WithQueue(strings.Repeat("q", 300))}, `WithQueue("qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"…): queue "qqq`},
		{"NUL queue", []engine.StartOption{engine.WithQueue("q\x00")}, `WithQueue("q\x00"): queue "q\x00" contains a NUL byte`},
		{"priority", []engine.StartOption{engine.WithPriority(5000)}, "WithPriority(5000): the priority must be between 0 and 1000"},
		{"two delays", []engine.StartOption{engine.StartAt(later), engine.StartAfter(time.Minute)}, "StartAt and StartAfter given 2 times"},
		{"two queues", []engine.StartOption{engine.WithQueue("a"), engine.WithQueue("b")}, `WithQueue given twice, with "a" and "b": give one`},
		{"two priorities", []engine.StartOption{engine.WithPriority(1), engine.WithPriority(2)}, `WithPriority given twice, with 1 and 2: give one`},
		{"two keys", []engine.StartOption{engine.WithIdempotencyKey("k1"), engine.WithIdempotencyKey("k2")}, `WithIdempotencyKey given twice, with "k1" and "k2": give one`},
		{"two groups", []engine.StartOption{engine.WithConcurrency("g", 1), engine.WithConcurrency("g", 2)}, `WithConcurrency given twice, with ("g", 1) and ("g", 2): give one`},
		{"two timeouts", []engine.StartOption{engine.WithWorkflowTimeout(time.Hour), engine.WithWorkflowTimeout(time.Minute)}, `WithWorkflowTimeout given twice, with 1h0m0s and 1m0s: give one`},
		{"two txs", []engine.StartOption{engine.InTx(e.Store().DB()), engine.InTx(otherIDB{e.Store().DB()})}, `InTx given twice, with two different transactions: give one`},
		{"two reuses", []engine.StartOption{engine.WithIdempotencyKey("k"), engine.WithIdentityReuse(engine.ReuseAfterDone), engine.WithIdentityReuse(engine.ReuseAfterFailed)}, `WithIdentityReuse given twice, with 1 and 2: give one`},
	} {
		t.Run(c.name, func(t *testing.T) {
			check := func(what string, err error) {
				t.Helper()
				want := c.want
				switch {
				case what == "StartMany item" && c.name == "nil tx": // InTx is refused per item anyway
					want = "InTx applies to the whole StartMany"
				}
				if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: got %v, want store.ErrInvalid saying %q", what, err, want)
				}
			}
			_, err := e.Start(ctx, "t/dag", map[string]int{"n": 1}, c.opts...)
			check("Start", err)
			_, err = engine.StartWorkflow[int, int](ctx, e, "t/code", 1, c.opts...)
			check("StartWorkflow", err)
			res, err := e.StartMany(ctx, []engine.StartRequest{
				{Workflow: "t/dag", Input: map[string]int{"n": 2}, Options: c.opts},
				{Workflow: "t/code", Input: 2, Options: c.opts},
			})
			must(t, err)
			for i, r := range res {
				check("StartMany item", r.Err)
				if r.Err != nil && !strings.Contains(r.Err.Error(), "starting item") {
					t.Errorf("StartMany item %d: %v does not say which item", i, r.Err)
				}
			}
			page, err := e.Store().ListTasks(ctx, &store.ListTasksParams{})
			must(t, err)
			if len(page.Tasks) != 0 {
				t.Fatalf("a refused start wrote %d tasks", len(page.Tasks))
			}
		})
	}
	// A nil option among StartMany's common options refuses the call.
	if _, err := e.StartMany(ctx, []engine.StartRequest{{Workflow: "t/dag"}}, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("StartMany with a nil common option: %v, want store.ErrInvalid", err)
	}
	// The options alone still work.
	h1, err := e.Start(ctx, "t/dag", nil, engine.Unique())
	must(t, err)
	h2, err := e.Start(ctx, "t/dag", nil, engine.Unique())
	must(t, err)
	k1, err := e.Start(ctx, "t/dag", nil, engine.WithIdempotencyKey("k"), engine.WithWorkflowTimeout(time.Hour), engine.StartAfter(time.Minute))
	must(t, err)
	k2, err := e.Start(ctx, "t/dag", nil, engine.WithIdempotencyKey("k"))
	must(t, err)
	if h1.TaskID == h2.TaskID || k1.TaskID != k2.TaskID || !k2.Existing {
		t.Fatalf("Unique gave %d and %d, the key %d and %d (existing %v)", h1.TaskID, h2.TaskID, k1.TaskID, k2.TaskID, k2.Existing)
	}
	// An option given twice with the same value is accepted.
	db := e.Store().DB()
	_, err = e.Start(ctx, "t/dag", nil, engine.WithQueue("q"), engine.WithQueue("q"), engine.WithPriority(3), engine.WithPriority(3),
		engine.WithIdempotencyKey("twice"), engine.WithIdempotencyKey("twice"), engine.WithConcurrency("g", 2), engine.WithConcurrency("g", 2),
		engine.WithWorkflowTimeout(time.Hour), engine.WithWorkflowTimeout(time.Hour), engine.InTx(db), engine.InTx(db),
		engine.WithIdentityReuse(engine.ReuseAfterDone), engine.WithIdentityReuse(engine.ReuseAfterDone))
	must(t, err)
}

// otherIDB is another bun.IDB on the same database.
type otherIDB struct{ bun.IDB }

// TestCancelRefusesANilOption: Cancel with a nil CancelOption panicked; it
// is refused (store.ErrInvalid) and the task is not cancelled.
func TestCancelRefusesANilOption(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	h, err := e.Start(ctx, "t/dag", nil)
	must(t, err)
	if err := e.Cancel(ctx, h.TaskID, "oops", nil); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "cancel option 0 (counting from 0) is nil") {
		t.Fatalf("Cancel with a nil option: %v", err)
	}
	d, err := e.Store().GetTask(ctx, h.TaskID)
	must(t, err)
	if d.Task.State.Done() {
		t.Fatalf("a refused Cancel left the task %s", d.Task.State)
	}
}

// TestTaskByKeyRefusesAVersionedName: TaskByKey("ns/name@1.0.0", key)
// answered store.ErrNotFound for a task that exists (keys are scoped by the
// name alone), and an empty key was looked up too; both are store.ErrInvalid
// now, and the name alone finds the task.
func TestTaskByKeyRefusesAVersionedName(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "dag", Version: "1.0.0", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	h, err := e.Start(ctx, "t/dag@1.0.0", nil, engine.WithIdempotencyKey("order-1"))
	must(t, err)
	for _, c := range []struct{ workflow, key, want string }{
		{"t/dag@1.0.0", "order-1", `the workflow must be "namespace/name"`},
		{"dag", "order-1", `the workflow must be "namespace/name"`},
		{"t@1.0.0/dag", "order-1", `the workflow must be "namespace/name"`},
		{"t/dag", "", "the key is empty"},
	} {
		if _, err := e.TaskByKey(ctx, c.workflow, c.key); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("TaskByKey(%q, %q): %v, want store.ErrInvalid saying %q", c.workflow, c.key, err, c.want)
		}
	}
	got, err := e.TaskByKey(ctx, "t/dag", "order-1")
	if err != nil || got.ID != h.TaskID {
		t.Fatalf("TaskByKey(t/dag, order-1): %v, %v; want task %d", got, err, h.TaskID)
	}
}

// A key is scoped by the workflow's name, and names may hold ':': "t/a:b"
// with key "k" and "t/a" with key "b:k" are the one identity
// "key:t/a:b:k". A start of the one whose key the other's task holds is
// refused (store.ErrConflict naming that task and its workflow), and
// TaskByKey finds no task for it. The start returned the other workflow's
// task (Existing), and with WithIdentityReuse retired its identity, taking
// its key; TaskByKey returned it for both. Nothing is created.
func TestKeysOfNamesWithAColonDoNotMeet(t *testing.T) {
	e := newEngine(t, engine.Config{})
	ctx := context.Background()
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	for _, name := range []string{"a", "a:b"} {
		must(t, e.Register(&engine.Template{Namespace: "t", Name: name, Steps: []engine.StepTemplate{{Name: "only", Handler: "h"}}}))
		must(t, engine.RegisterWorkflow(e, "c/"+name, func(_ *engine.WorkflowContext, in int) (int, error) { return in, nil }))
	}
	for _, ns := range []string{"t", "c"} {
		start := func(workflow, key string, opts ...engine.StartOption) (int64, error) {
			opts = append(opts, engine.WithIdempotencyKey(key))
			if ns == "c" {
				h, err := engine.StartWorkflow[int, int](ctx, e, workflow, 1, opts...)
				if err != nil {
					return 0, err
				}
				return h.TaskID, nil
			}
			h, err := e.Start(ctx, workflow, nil, opts...)
			if err != nil {
				return 0, err
			}
			return h.TaskID, nil
		}
		plain, err := start(ns+"/a", "b:k")
		must(t, err)
		var input any
		if ns == "c" {
			input = 1
		}
		many, err := e.StartMany(ctx, []engine.StartRequest{{Workflow: ns + "/a:b", Input: input, Options: []engine.StartOption{engine.WithIdempotencyKey("k")}}})
		must(t, err)
		_, startErr := start(ns+"/a:b", "k")
		must(t, e.Cancel(ctx, plain, "done"))
		_, reuseErr := start(ns+"/a:b", "k", engine.WithIdentityReuse(engine.ReuseAfterDone))
		for what, err := range map[string]error{"start": startErr, "StartMany item": many[0].Err, "reusing start": reuseErr} {
			if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), fmt.Sprintf("task %d of workflow %s/a", plain, ns)) {
				t.Errorf("%s/a:b with key \"k\", %s: %v; want store.ErrConflict naming task %d of %s/a", ns, what, err, plain, ns)
			}
		}
		if got, err := e.TaskByKey(ctx, ns+"/a:b", "k"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TaskByKey(%s/a:b, \"k\"): %+v, %v; want store.ErrNotFound", ns, got, err)
		}
		if got, err := e.TaskByKey(ctx, ns+"/a", "b:k"); err != nil || got.ID != plain {
			t.Errorf("TaskByKey(%s/a, \"b:k\"): %+v, %v; want task %d", ns, got, err, plain)
		}
	}
	page, err := e.Store().ListTasks(ctx, &store.ListTasksParams{})
	must(t, err)
	if len(page.Tasks) != 2 {
		t.Fatalf("%d tasks, want the 2 of t/a and c/a", len(page.Tasks))
	}
}
