package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// A finished child is kept while its parent has not finished: the parent
// reads the child's outcome when it resumes, and with the child deleted
// (its retention passed while the parent waited for a worker) it started
// the child again — its steps ran twice.
func TestRetentionKeepsAChildItsParentHasNotRead(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	child := &engine.Template{Namespace: "t", Name: "child", Retention: time.Millisecond, Steps: []engine.StepTemplate{{Name: "charge", Handler: "charge"}}}
	// The parent's engine serves the parent only; the child's engine, the
	// child's step only: each RunOnce below runs one side.
	parents := newEngine(t, engine.Config{Store: s})
	must(t, parents.Register(child))
	must(t, engine.RegisterWorkflow(parents, "t/parent", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		r, err := engine.Child[map[string]int](wctx, "t/child", nil)
		return r["charge"], err
	}))
	children := newEngine(t, engine.Config{Store: s})
	var charged atomic.Int32
	must(t, children.HandleFunc("charge", func(*engine.StepContext) (any, error) { return int(charged.Add(1)), nil }))
	must(t, children.Register(child))

	w, err := engine.StartWorkflow[int, int](ctx, parents, "t/parent", 0)
	must(t, err)
	_, err = parents.RunOnce(ctx) // the parent starts its child and waits
	must(t, err)
	_, err = children.RunOnce(ctx) // the child runs and finishes
	must(t, err)
	// The maintenance pass, its retention past: the child has finished,
	// its parent not.
	_, err = s.DeleteFinished(ctx, &store.DeleteFinishedParams{Now: time.Now().Add(time.Hour)})
	must(t, err)
	_, err = parents.RunOnce(ctx) // the parent resumes
	must(t, err)
	_, err = children.RunOnce(ctx)
	must(t, err)
	_, err = parents.RunOnce(ctx)
	must(t, err)
	if n := charged.Load(); n != 1 {
		t.Fatalf("the child's step ran %d times, want once", n)
	}
	got, err := w.Result(ctx)
	must(t, err)
	if got != 1 {
		t.Fatalf("the parent returned %d, want the child's 1", got)
	}
}
