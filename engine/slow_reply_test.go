package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// slowReplies is a store whose claims come back late, as on a loaded
// machine: the reply of every call that claims arrives 300 ms after the
// statement wrote the lease.
type slowReplies struct{ store.Store }

const slowReply = 300 * time.Millisecond

func (s slowReplies) CreateTasks(ctx context.Context, ps []*store.CreateTaskParams) ([]store.CreateTasksItem, error) {
	defer time.Sleep(slowReply)
	return s.Store.CreateTasks(ctx, ps)
}

func (s slowReplies) ClaimSteps(ctx context.Context, p *store.ClaimStepsParams) ([]*store.ClaimedStep, error) {
	defer time.Sleep(slowReply)
	return s.Store.ClaimSteps(ctx, p)
}

// A durable step that fails with a 2 ms backoff is retried inside its
// running workflow, however late the claim's reply came: the late reply
// does not read as the store's clock running ahead of ours (it made the
// wait 300 ms, past the inline limit, and the workflow suspended and was
// claimed again).
func TestInlineRetryIgnoresALateClaimReply(t *testing.T) {
	ctx := context.Background()
	inner, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "slow.db"), nil)
	must(t, err)
	t.Cleanup(func() { inner.Close() })
	e := newEngine(t, engine.Config{Store: slowReplies{inner}})
	must(t, engine.RegisterWorkflow(e, "t/flaky", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.Step(wctx, "once", func(ctx context.Context) (int, error) {
			if info, _ := engine.StepInfoFrom(ctx); info.Attempt == 1 {
				return 0, engine.Retryable(errors.New("transient"), 2*time.Millisecond)
			}
			return 7, nil
		})
	}))
	done, err := e.RunBackground(ctx)
	must(t, err)
	defer func() { must(t, e.Stop(ctx)); <-done }()
	h, err := engine.StartWorkflow[int, int](ctx, e, "t/flaky", 1)
	must(t, err)
	if got, err := h.Result(ctx); err != nil || got != 7 {
		t.Fatalf("result %d, %v", got, err)
	}
	d, err := inner.GetTask(ctx, h.TaskID)
	must(t, err)
	for _, s := range d.Steps {
		if s.Name == engine.DriverStep && (s.Attempts != 1 || s.TransitionSeq != 2) {
			t.Fatalf("the driver ran %d times (transition %d): the retry suspended the workflow", s.Attempts, s.TransitionSeq)
		}
	}
}
