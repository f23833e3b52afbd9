package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// Each policy: when a start with the same key creates a new run, when it
// returns the earlier one; earlier handles keep working; misuse is refused
// with nothing created.
func TestIdentityReusePolicies(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	must(t, engine.RegisterWorkflow(env.Engine, "t/job", func(wctx *engine.WorkflowContext, fail bool) (string, error) {
		return engine.Step(wctx, "run", func(ctx context.Context) (string, error) {
			if fail {
				return "", engine.Permanent(errors.New("boom"))
			}
			return "ok", nil
		})
	}))
	ctx := context.Background()
	start := func(key string, fail bool, opts ...engine.StartOption) *engine.WorkflowHandle[string] {
		t.Helper()
		h, err := engine.StartWorkflow[bool, string](ctx, env.Engine, "t/job", fail, append(opts, engine.WithIdempotencyKey(key))...)
		must(t, err)
		return h
	}
	finish := func(h *engine.WorkflowHandle[string]) {
		t.Helper()
		env.RunUntilDone(h.TaskID)
	}
	never, afterDone, afterFailed := engine.WithIdentityReuse(engine.ReuseNever), engine.WithIdentityReuse(engine.ReuseAfterDone), engine.WithIdentityReuse(engine.ReuseAfterFailed)

	// Default and ReuseNever: the key names its first task for good.
	first := start("k-never", true)
	finish(first)
	if again := start("k-never", true, never); !again.Existing || again.TaskID != first.TaskID {
		t.Fatalf("ReuseNever created task %d", again.TaskID)
	}

	// ReuseAfterDone: a running task is returned; a finished one (here
	// complete) gives its key to a new run, which may take another input.
	done := start("k-done", false)
	if again := start("k-done", false, afterDone); !again.Existing || again.TaskID != done.TaskID {
		t.Fatal("ReuseAfterDone created a run while the first was pending")
	}
	finish(done)
	second := start("k-done", true, afterDone)
	if second.Existing || second.TaskID == done.TaskID {
		t.Fatalf("ReuseAfterDone after completion: %+v", second)
	}
	finish(second)
	if v, err := done.Result(ctx); err != nil || v != "ok" { // the first run's handle still works
		t.Fatalf("the earlier run through its handle: %q, %v", v, err)
	}
	if _, err := second.Result(ctx); !errors.Is(err, engine.ErrStepFailed) {
		t.Fatalf("the second run: %v", err)
	}
	if again := start("k-done", true); !again.Existing || again.TaskID != second.TaskID {
		t.Fatal("the key does not name the newest run")
	}

	// ReuseAfterFailed: not after a completion, but after a failure.
	ok := start("k-failed", false)
	finish(ok)
	if again := start("k-failed", false, afterFailed); !again.Existing || again.TaskID != ok.TaskID {
		t.Fatal("ReuseAfterFailed created a run after a completed one")
	}
	bad := start("k-failed2", true)
	finish(bad)
	retry := start("k-failed2", false, afterFailed)
	if retry.Existing || retry.TaskID == bad.TaskID {
		t.Fatal("ReuseAfterFailed did not create a run after a failed one")
	}
	finish(retry)
	if v, err := retry.Result(ctx); err != nil || v != "ok" {
		t.Fatalf("the new run: %q, %v", v, err)
	}

	// Refused, with nothing created: no key; StartMany.
	counts, err := env.Store.CountByState(ctx)
	must(t, err)
	if _, err := engine.StartWorkflow[bool, string](ctx, env.Engine, "t/job", false, afterDone); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("reuse without a key: %v", err)
	}
	res, err := env.StartMany(ctx, []engine.StartRequest{{Workflow: "t/job", Input: false, Options: []engine.StartOption{afterDone, engine.WithIdempotencyKey("m")}}})
	must(t, err)
	if !errors.Is(res[0].Err, store.ErrInvalid) {
		t.Fatalf("StartMany with a reuse policy: %v", res[0].Err)
	}
	after, err := env.Store.CountByState(ctx)
	must(t, err)
	if after.Tasks[store.TaskPending] != counts.Tasks[store.TaskPending] {
		t.Fatalf("a refused start created a task: %v → %v", counts.Tasks, after.Tasks)
	}
}

// retireCancels is a real store whose RetireIdentity ends the caller's
// context once it has retired: a start's deadline passing just then.
type retireCancels struct {
	store.Store
	cancel context.CancelFunc
}

func (s retireCancels) RetireIdentity(ctx context.Context, p *store.RetireIdentityParams) (bool, error) {
	defer s.cancel()
	return s.Store.RetireIdentity(ctx, p)
}

// A reusing start whose context ends after it retired the earlier run's
// identity still creates the new run: the key names a task all along. The
// create was refused for the ended context, leaving the earlier run
// retired and the key naming nothing (TaskByKey: not found) after a start
// that failed.
func TestReusingStartEndingAfterTheRetireCreatesTheRun(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := engine.New(engine.Config{Store: retireCancels{env.Store, cancel}})
	must(t, err)
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "job", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	bg := context.Background()
	first, err := e.Start(bg, "t/job", map[string]int{"n": 1}, engine.WithIdempotencyKey("k"))
	must(t, err)
	must(t, e.Cancel(bg, first.TaskID, "done with it"))
	again, err := e.Start(ctx, "t/job", map[string]int{"n": 2}, engine.WithIdempotencyKey("k"), engine.WithIdentityReuse(engine.ReuseAfterDone))
	if err != nil || again.TaskID == first.TaskID {
		t.Fatalf("the reusing start: %+v, %v; want a new run", again, err)
	}
	if got, err := e.TaskByKey(bg, "t/job", "k"); err != nil || got.ID != again.TaskID {
		t.Fatalf("the key names %+v, %v; want the new run %d", got, err, again.TaskID)
	}
}
