package engine_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// commitCounter counts the transactions committed through a SQLite
// store: its COMMITs, and the writes made outside a transaction (one
// statement is a transaction of its own). Writes go through the store's
// one writer connection, so its statements come one at a time.
type commitCounter struct {
	n    *atomic.Int32
	inTx *atomic.Bool
}

func (commitCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (c commitCounter) AfterQuery(_ context.Context, ev *bun.QueryEvent) {
	if ev.Err != nil {
		return
	}
	q := strings.ToUpper(strings.TrimSpace(ev.Query))
	switch {
	case strings.HasPrefix(q, "BEGIN"):
		c.inTx.Store(true)
	case q == "COMMIT":
		c.inTx.Store(false)
		c.n.Add(1)
	case q == "ROLLBACK":
		c.inTx.Store(false)
	case c.inTx.Load():
	case strings.HasPrefix(q, "INSERT"), strings.HasPrefix(q, "UPDATE"), strings.HasPrefix(q, "DELETE"),
		strings.HasPrefix(q, "WITH") && (strings.Contains(q, "\nINSERT") || strings.Contains(q, "\nUPDATE") || strings.Contains(q, "\nDELETE")):
		c.n.Add(1)
	}
}

// The last durable step of a run commits with the driver's outcome, and
// every other step is durable before the next one begins: a workflow of
// two steps, run by RunOnce, commits four times — the claim, step a (when
// b begins), b with the workflow's result, and RunOnce's last claim,
// which finds nothing — where recording each step in a transaction of
// its own took five.
func TestHeldStepCommitsWithTheOutcome(t *testing.T) {
	ctx := context.Background()
	var commits atomic.Int32
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "held.db"), &sqlite.Options{QueryHooks: []bun.QueryHook{commitCounter{&commits, new(atomic.Bool)}}})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	e := newEngine(t, engine.Config{Store: s})
	aRecorded := make(chan bool, 1)
	must(t, engine.RegisterWorkflow(e, "t/two", func(wctx *engine.WorkflowContext, in int) (int, error) {
		a, err := engine.Step(wctx, "a", func(context.Context) (int, error) { return in + 1, nil })
		if err != nil {
			return 0, err
		}
		return engine.Step(wctx, "b", func(ctx context.Context) (int, error) {
			info, _ := engine.StepInfoFrom(ctx)
			d, err := s.GetWorkflowHistory(ctx, info.TaskID)
			if err != nil {
				return 0, err
			}
			recorded := false
			for _, st := range d.Steps {
				recorded = recorded || (st.Sequence != nil && *st.Sequence == 1 && st.State == store.StepComplete)
			}
			aRecorded <- recorded
			return a + 1, nil
		})
	}))
	h, err := engine.StartWorkflow[int, int](ctx, e, "t/two", 1)
	must(t, err)
	commits.Store(0)
	if _, err := e.RunOnce(ctx); err != nil { // claims the driver, runs the workflow, finishes
		t.Fatal(err)
	}
	if got, err := h.Result(ctx); err != nil || got != 3 {
		t.Fatalf("result %d, %v; want 3", got, err)
	}
	if !<-aRecorded {
		t.Fatal("step a was not recorded when step b began")
	}
	if n := commits.Load(); n != 4 {
		t.Fatalf("%d commits from the claim to the result; want 4 (claim, step a, step b with the outcome, an empty claim)", n)
	}
	steps, err := s.GetWorkflowHistory(ctx, h.TaskID)
	must(t, err)
	n := 0
	for _, st := range steps.Steps {
		if st.Sequence != nil && st.State == store.StepComplete && st.Attempts == 1 {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d durable steps recorded complete once; want 2", n)
	}
}
