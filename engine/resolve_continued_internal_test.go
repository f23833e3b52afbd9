package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// The driver of a run in error whose next run exists (ContinueAsNew
// created it, then the run failed) is not resolved: the workflow goes on
// in the next run, and the resolve would have closed the run with a
// result while Runs and SendEvent lead to the next one. It was resolved,
// the next run left going on.
func TestResolveRefusesARunThatContinued(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e, err := New(Config{Store: s, WorkerID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if err := RegisterWorkflow(e, "t/w", func(wctx *WorkflowContext, n int) (int, error) {
		if n == 0 {
			return 0, Permanent(errors.New("the run fails"))
		}
		return WaitEvent[int](wctx, "go", time.Hour)
	}); err != nil {
		t.Fatal(err)
	}
	run, err := e.startWorkflow(ctx, "t/w", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	// The next run, as ContinueAsNew creates it (its key, which
	// WithIdempotencyKey refuses).
	next, err := e.startWorkflow(ctx, "t/w", 1, func(o *startOptions) { o.key = continueKey(run.id) })
	if err != nil {
		t.Fatal(err)
	}
	err = e.Resolve(ctx, run.id, DriverStep, 5)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), fmt.Sprintf("continued as new as task %d", next.id)) {
		t.Fatalf("Resolve of the driver of a run that continued: %v; want ErrRefused naming task %d", err, next.id)
	}
	d, err := s.GetTask(ctx, run.id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Task.State != store.TaskError {
		t.Fatalf("the refused resolve left the run %s, want error", d.Task.State)
	}
}
