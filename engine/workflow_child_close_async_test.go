package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// gatedCancel holds every CancelTask until gate is closed; entered is
// closed when the first arrives.
type gatedCancel struct {
	store.Store
	once    sync.Once
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedCancel) CancelTask(ctx context.Context, p *store.CancelTaskParams) (*store.Task, error) {
	g.once.Do(func() { close(g.entered) })
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Store.CancelTask(ctx, p)
}

// The children of a workflow that fails are cancelled off the goroutine
// that commits step outcomes: while a child's cancel is slow (held here
// until the test lets it go), other workflows' steps are recorded and
// finish. It ran on that goroutine, after the commit that failed the
// parent, and every completion of the process waited for it. The cancel
// still happens.
func TestSlowChildCancelDoesNotStallCompletions(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"), nil)
	must(t, err)
	t.Cleanup(func() { s.Close() })
	g := &gatedCancel{Store: s, entered: make(chan struct{}), gate: make(chan struct{})}
	fake := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := engine.New(engine.Config{Store: g, Clock: fake, WorkerID: "w"})
	must(t, err)
	var giveUp atomic.Bool
	must(t, engine.RegisterWorkflow(e, "t/child", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.WaitEvent[int](wctx, "go", 48*time.Hour)
	}))
	must(t, engine.RegisterWorkflow(e, "t/parent", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		if giveUp.Load() {
			return 0, engine.Permanent(errors.New("the parent gives up"))
		}
		return engine.Child[int](wctx, "t/child", 1)
	}))
	must(t, engine.RegisterWorkflow(e, "t/quick", func(wctx *engine.WorkflowContext, n int) (int, error) { return n + 1, nil }))
	parent, err := engine.StartWorkflow[int, int](ctx, e, "t/parent", 1)
	must(t, err)
	for range 5 { // the parent starts its child, the child waits for its event
		_, err := e.RunOnce(ctx)
		must(t, err)
	}
	page, err := s.ListTasks(ctx, &store.ListTasksParams{ParentID: &parent.TaskID, Limit: 10})
	must(t, err)
	if len(page.Tasks) != 1 || page.Tasks[0].State.Done() {
		t.Fatalf("children %+v, want one running", page.Tasks)
	}
	child := page.Tasks[0].ID

	// The parent's re-check (5 min) comes due; its run fails it.
	giveUp.Store(true)
	fake.Advance(6 * time.Minute)
	run(t, e)
	release := sync.OnceFunc(func() { close(g.gate) })
	t.Cleanup(release) // (before Stop: cleanups run last first)
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the failed parent's child was not being cancelled after 30s")
	}
	quick, err := engine.StartWorkflow[int, int](ctx, e, "t/quick", 1)
	must(t, err)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if v, err := quick.Result(wctx); err != nil || v != 2 {
		t.Fatalf("another workflow, while a child's cancel is held: %d, %v; want 2, finished", v, err)
	}
	if st := taskState(t, s, child); st.Done() {
		t.Fatalf("the child is %s while its cancel is held", st)
	}
	release()
	out, err := e.Wait(wctx, child)
	if err != nil || out.State != store.TaskCancelled {
		t.Fatalf("the child once its cancel goes through: %+v, %v; want cancelled", out, err)
	}
}

func taskState(t *testing.T, s store.Store, id int64) store.TaskState {
	t.Helper()
	d, err := s.GetTask(context.Background(), id)
	must(t, err)
	return d.Task.State
}

// failingCancel refuses every CancelTask, as a database that keeps
// failing would.
type failingCancel struct{ store.Store }

func (failingCancel) CancelTask(context.Context, *store.CancelTaskParams) (*store.Task, error) {
	return nil, errors.New("injected: the database refused the cancel")
}

// When the children of a failed workflow cannot be cancelled, the warning
// says what becomes of them: they run on, read by the parent's retry, and
// the maintenance pass cancels them once the parent has ended for good.
// It said the maintenance pass would cancel them, which it does not while
// the parent is in error.
func TestFailedChildCancelWarnsTruly(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"), nil)
	must(t, err)
	t.Cleanup(func() { s.Close() })
	core, logs := observer.New(zap.WarnLevel)
	fake := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := engine.New(engine.Config{Store: failingCancel{s}, Clock: fake, WorkerID: "w", Logger: zap.New(core)})
	must(t, err)
	var giveUp atomic.Bool
	must(t, engine.RegisterWorkflow(e, "t/child", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.WaitEvent[int](wctx, "go", 48*time.Hour)
	}))
	must(t, engine.RegisterWorkflow(e, "t/parent", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		if giveUp.Load() {
			return 0, engine.Permanent(errors.New("the parent gives up"))
		}
		return engine.Child[int](wctx, "t/child", 1)
	}))
	parent, err := engine.StartWorkflow[int, int](ctx, e, "t/parent", 1)
	must(t, err)
	for range 5 {
		_, err := e.RunOnce(ctx)
		must(t, err)
	}
	giveUp.Store(true)
	fake.Advance(6 * time.Minute) // the parent's re-check: its run fails it
	_, err = e.RunOnce(ctx)
	must(t, err)
	if st := taskState(t, s, parent.TaskID); st != store.TaskError {
		t.Fatalf("the parent is %s, want error", st)
	}
	warned := logs.FilterMessageSnippet("cancelling the children of a failed task failed").All()
	if len(warned) != 1 || !strings.Contains(warned[0].Message, "ended for good") || strings.Contains(warned[0].Message, "the maintenance pass will") {
		t.Fatalf("warnings %v; want one saying the children run on until the parent has ended for good", warned)
	}
}
