package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
)

var retryFast = retry.Policy{Base: time.Millisecond, Max: 5 * time.Millisecond}

// registerFailsOnce registers the code-first workflow name: one durable
// step "call" (with opts) whose first attempt fails for each input n,
// then returns n.
func registerFailsOnce(t *testing.T, e *engine.Engine, name string, opts ...engine.StepOption) {
	t.Helper()
	var mu sync.Mutex // (runs go on side by side)
	tries := map[int]int{}
	must(t, engine.RegisterWorkflow(e, name, func(wctx *engine.WorkflowContext, n int) (int, error) {
		return engine.Step(wctx, "call", func(context.Context) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			if tries[n]++; tries[n] == 1 {
				return 0, errors.New("boom")
			}
			return n, nil
		}, opts...)
	}))
}

// startInts starts the code-first workflow name with the inputs 0 to n-1
// and returns their task ids.
func startInts(t *testing.T, e *engine.Engine, name string, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range n {
		w, err := engine.StartWorkflow[int, int](context.Background(), e, name, i)
		must(t, err)
		ids[i] = w.TaskID
	}
	return ids
}
