package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

var (
	errTaskCancelled = errors.New("task cancelled")
	errLeaseLost     = errors.New("lease lost")
	errShutdown      = errors.New("engine shutting down")
)

// inflight is a step whose handler is running here.
type inflight struct {
	lease  store.Lease
	taskID int64
	cancel context.CancelCauseFunc
}

// counters are the engine's running totals (see Stats).
type counters struct {
	started, claimed, completed, retried, failed, discarded, released atomic.Int64
	claimTx, finishTx                                                 atomic.Int64
}

// Stats are running totals since the engine was created.
type Stats struct {
	TasksStarted, StepsClaimed, StepsCompleted, StepsRetried, StepsFailed, ResultsDiscarded, LeasesReleased int64
	ClaimTransactions, FinishTransactions                                                                   int64
	EventsDropped                                                                                           int64
	Running                                                                                                 int
}

// Stats returns the engine's running totals.
func (e *Engine) Stats() Stats {
	e.imu.Lock()
	running := len(e.inflight)
	e.imu.Unlock()
	s := &e.stat
	return Stats{
		TasksStarted: s.started.Load(), StepsClaimed: s.claimed.Load(), StepsCompleted: s.completed.Load(),
		StepsRetried: s.retried.Load(), StepsFailed: s.failed.Load(), ResultsDiscarded: s.discarded.Load(),
		LeasesReleased: s.released.Load(), ClaimTransactions: s.claimTx.Load(), FinishTransactions: s.finishTx.Load(),
		EventsDropped: e.bus.dropped.Load(), Running: running,
	}
}

// lifecycle tracks Run and Stop.
type lifecycle struct {
	mu             sync.Mutex
	running        bool
	stopEarly      bool          // Stop ran before Run started
	stopClaiming   chan struct{} // closed by Stop
	cancelHandlers context.CancelCauseFunc
	done           chan struct{} // closed when Run returns
}

// outcome is a finished attempt on its way to the completer. release
// means the attempt was interrupted by shutdown: give the lease back.
type outcome struct {
	store.StepOutcome
	release bool
	claimed *store.ClaimedStep
	log     *zap.Logger
}

// Run claims and executes steps until Stop is called or ctx ends (which
// stops at once: running handlers are cancelled and their leases
// released). It first rescues leases that expired while no engine ran.
func (e *Engine) Run(ctx context.Context) error {
	l := &e.life
	l.mu.Lock()
	if l.running {
		l.mu.Unlock()
		return errors.New("tasker: engine is already running")
	}
	if l.stopEarly { // Stop came first (go e.Run(ctx); …; e.Stop(ctx))
		l.stopEarly = false
		l.mu.Unlock()
		return nil
	}
	handlerBase, cancelHandlers := context.WithCancelCause(context.WithoutCancel(ctx))
	l.running, l.stopClaiming, l.cancelHandlers, l.done = true, make(chan struct{}), cancelHandlers, make(chan struct{})
	stopClaiming, done := l.stopClaiming, l.done
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.running = false
		l.mu.Unlock()
		close(done)
	}()

	outcomes := make(chan outcome, 4*e.cfg.Execution.MaxConcurrency)
	d := newDispatcher(e, handlerBase, outcomes)
	var helpers sync.WaitGroup
	helperCtx, stopHelpers := context.WithCancel(context.WithoutCancel(ctx))
	completerDone := make(chan struct{})
	go func() { defer close(completerDone); e.complete(outcomes, d) }()
	helpers.Go(func() { e.heartbeat(helperCtx) })
	helpers.Go(func() { e.maintain(helperCtx) })
	helpers.Go(func() { e.tune(helperCtx, d) })

	go func() { // ctx ending is a hard stop
		select {
		case <-ctx.Done():
			cancelHandlers(errShutdown)
			e.stopClaimingOnce(stopClaiming)
		case <-done:
		}
	}()

	e.coordinate(ctx) // logs the coordination mode
	defer e.Close()
	e.claimLoop(ctx, stopClaiming, d)

	d.close() // no new claims; every handler has sent its outcome
	close(outcomes)
	<-completerDone
	stopHelpers()
	helpers.Wait()
	cancelHandlers(errShutdown)
	return nil
}

func (e *Engine) stopClaimingOnce(ch chan struct{}) {
	e.life.mu.Lock()
	defer e.life.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// Stop stops claiming, lets running handlers finish until ctx ends, then
// cancels the rest and gives their leases back. It returns when Run has
// returned: no goroutine of the engine outlives it. A Stop that comes
// before Run has started (Run called in a goroutine that has not run yet)
// makes that Run return at once.
func (e *Engine) Stop(ctx context.Context) error {
	l := &e.life
	l.mu.Lock()
	if !l.running {
		// Run may not have started yet in its goroutine: make it return
		// at once when it does.
		l.stopEarly = true
		l.mu.Unlock()
		return nil
	}
	stopClaiming, done, cancel := l.stopClaiming, l.done, l.cancelHandlers
	l.mu.Unlock()
	e.stopClaimingOnce(stopClaiming)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		cancel(errShutdown)
		<-done
		return ctx.Err()
	}
}

// claimLoop claims batches while there is room and waits for a reason to
// look again: in-process work, a freed slot, the poll interval, or the next
// retry or lease expiry.
func (e *Engine) claimLoop(ctx context.Context, stop <-chan struct{}, d *dispatcher) {
	x := e.cfg.Execution
	var storeWake <-chan struct{}
	if w, ok := e.st.(interface{ Wakeups() <-chan struct{} }); ok {
		storeWake = w.Wakeups()
	}
	// backlog: the last look found more ready work than there was room
	// for, so a freed slot is worth a claim. Otherwise a freed slot alone
	// does not claim (the step's dependants become ready only when its
	// completion commits, and that commit claims them or wakes us).
	backlog, look := false, true
	for {
		select {
		case <-stop:
			return
		default:
		}
		running := d.running.Load()
		free := d.max.Load() - running
		idle := false
		if look {
			// Claim when a useful batch fits, or when nothing runs at all.
			if free > 0 && (free >= int64(max(1, min(x.BatchSize, x.MaxConcurrency)/4)) || running == 0) {
				n := d.reserve(min(int(free), x.BatchSize))
				var claimed []*store.ClaimedStep
				if n > 0 {
					var err error
					claimed, err = e.st.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: e.cfg.WorkerID, Limit: n, LeaseTTL: x.LeaseTTL, Now: e.now()})
					e.stat.claimTx.Add(1)
					if err != nil && ctx.Err() == nil {
						e.log.Warn("claiming steps failed; retrying after the poll interval", zap.Error(err))
					}
					e.stat.claimed.Add(int64(len(claimed)))
					d.settle(n, claimed)
				}
				idle = len(claimed) == 0
				backlog = n > 0 && len(claimed) == n
				if backlog {
					continue // there may be more ready right now
				}
			} else {
				backlog = true // ready work may be waiting for room
			}
		}
		var timer <-chan time.Time
		wait := x.PollInterval
		if idle && d.running.Load() == 0 {
			if next, ok, err := e.st.NextWakeup(ctx); err == nil && ok {
				now := e.clk.Now()
				if d := next.Sub(now); d < wait {
					wait = max(d, time.Millisecond)
				}
			}
		}
		var t *time.Timer
		if e.fake {
			timer = e.clk.After(wait)
		} else {
			t = time.NewTimer(wait)
			timer = t.C
		}
		look = true
		select {
		case <-stop:
		case <-e.wake:
		case <-d.freed:
			look = backlog
		case <-storeWake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
	}
}
