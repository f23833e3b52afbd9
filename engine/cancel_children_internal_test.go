package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// refusesCancelOf fails the first CancelTask of a task other than spare
// (and every later one of that task), as a database that refused that
// write would; id is the task refused.
type refusesCancelOf struct {
	store.Store
	spare, id int64
}

func (r *refusesCancelOf) CancelTask(ctx context.Context, p *store.CancelTaskParams) (*store.Task, error) {
	if r.spare != 0 && p.TaskID != r.spare && (r.id == 0 || r.id == p.TaskID) {
		r.id = p.TaskID
		return nil, errors.New("injected: the database refused the cancel")
	}
	return r.Store.CancelTask(ctx, p)
}

// A child whose cancel fails does not keep its parent's other children
// running: each is cancelled, and the error names the one that failed.
// cancelChildren returned at the first failure, and the children listed
// after it ran on.
func TestCancelChildrenTriesEveryChild(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rs := &refusesCancelOf{Store: s}
	e, err := New(Config{Store: rs, WorkerID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	wait := func(wctx *WorkflowContext, _ int) (int, error) { return WaitEvent[int](wctx, "go", time.Hour) }
	if err := RegisterWorkflow(e, "t/wait", wait); err != nil {
		t.Fatal(err)
	}
	parent, err := e.startWorkflow(ctx, "t/wait", 0)
	if err != nil {
		t.Fatal(err)
	}
	var kids []int64
	for i := range 3 {
		c, err := e.startWorkflow(ctx, "t/wait", i+1, withParent(parent.id))
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, c.id)
	}
	rs.spare = parent.id // the first child tried is refused: the others come after it
	err = e.Cancel(ctx, parent.id, "no longer needed")
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("cancel with a child's cancel failing: %v, want the child's error", err)
	}
	for i, id := range kids {
		d, err := s.GetTask(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := store.TaskCancelled
		if id == rs.id {
			want = store.TaskPending
		}
		if d.Task.State != want {
			t.Errorf("child %d (task %d) is %s, want %s", i, id, d.Task.State, want)
		}
	}
}
