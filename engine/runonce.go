package engine

import (
	"context"
	"errors"
	"sync"

	"github.com/tasker-go/tasker/store"
)

// RunOnce executes every step that is ready now, in this goroutine's
// control: it claims a batch, runs its handlers concurrently, commits their
// outcomes, and repeats until nothing is ready. It returns how many
// attempts ran. It starts no background goroutine, so tests (see testkit)
// drive the engine step by step; it must not be used while Run is active.
func (e *Engine) RunOnce(ctx context.Context) (int, error) {
	e.life.mu.Lock()
	running := e.life.running
	e.life.mu.Unlock()
	if running {
		return 0, errors.New("tasker: RunOnce while Run is active")
	}
	total := 0
	for {
		claimed, err := e.st.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: e.cfg.WorkerID, Limit: e.cfg.Execution.BatchSize, LeaseTTL: e.cfg.Execution.LeaseTTL, Now: e.now()})
		e.stat.claimTx.Add(1)
		if err != nil {
			return total, err
		}
		if len(claimed) == 0 {
			return total, nil
		}
		e.stat.claimed.Add(int64(len(claimed)))
		out := make(chan outcome, len(claimed))
		var wg sync.WaitGroup
		for _, c := range claimed {
			wg.Go(func() { e.execute(ctx, c, out) })
		}
		wg.Wait()
		close(out)
		var group []outcome
		for o := range out {
			group = append(group, o)
		}
		e.commit(ctx, group, nil)
		total += len(claimed)
	}
}
