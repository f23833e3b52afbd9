package engine

import (
	"context"
	"sync"

	"github.com/tasker-go/tasker/engine/internal/completer"
	"github.com/tasker-go/tasker/store"
)

// RunOnce executes every step that is ready now, in this goroutine's
// control: it claims a batch (at most ExecutionConfig.MaxConcurrency steps,
// the handlers it may run at once), runs its handlers concurrently, commits
// their outcomes, and repeats until nothing is ready. It returns how many
// attempts ran. It leaves no background goroutine behind (the children of
// the workflows it failed are cancelled when it returns), so tests (see
// testkit) drive the engine step by step; it returns ErrRunning while Run
// is active, and Run returns ErrRunning while it is.
func (e *Engine) RunOnce(ctx context.Context) (int, error) {
	e.life.mu.Lock()
	running := e.life.cur != nil
	if !running {
		e.life.steps++ // Run is refused until it returns
	}
	e.life.mu.Unlock()
	if running {
		return 0, ErrRunning
	}
	defer func() {
		e.life.mu.Lock()
		e.life.steps--
		e.life.mu.Unlock()
	}()
	defer e.closed() // returns once the children of the workflows it failed are cancelled
	ctx = context.WithValue(ctx, stepwiseKey{}, true)
	comp := e.newCompleter(nil)
	total := 0
	if len(e.reg.Names()) == 0 {
		return 0, nil // serving no handler: nothing here can run
	}
	for {
		// A batch's handlers all run at once: no more than the limit.
		limit := min(e.cfg.Execution.BatchSize, e.cfg.Execution.MaxConcurrency)
		claimed, err := e.st.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: e.cfg.WorkerID, Limit: limit, LeaseTTL: e.cfg.Execution.LeaseTTL,
			Handlers: e.reg.Names(), Queues: e.cfg.Execution.Queues, Grouped: true, ByReadyTime: e.ageTurn(), Now: e.now()})
		e.stat.claimTx.Add(1)
		e.met.claimTransaction()
		if err != nil {
			return total, err
		}
		if len(claimed) == 0 {
			return total, nil
		}
		e.stat.claimed.Add(int64(len(claimed)))
		group := make([]completer.Outcome, len(claimed))
		keep := make([]bool, len(claimed))
		var wg sync.WaitGroup
		for i, c := range claimed {
			wg.Go(func() { group[i], keep[i] = e.measured(ctx, c) })
		}
		wg.Wait()
		var kept []completer.Outcome
		for i, o := range group {
			if keep[i] {
				kept = append(kept, o)
			}
		}
		comp.Commit(ctx, kept)
		total += len(claimed)
	}
}

// stepwiseKey marks the context of attempts run by RunOnce: they must not
// wait for the clock (a test's fake clock moves between RunOnce calls), so
// a durable step's retry suspends its workflow however short its backoff.
type stepwiseKey struct{}
