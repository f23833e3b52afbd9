package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/claimer"
	"github.com/tasker-go/tasker/engine/internal/completer"
	"github.com/tasker-go/tasker/engine/internal/dispatch"
	"github.com/tasker-go/tasker/engine/internal/errclass"
	"github.com/tasker-go/tasker/engine/internal/maintainer"
	"github.com/tasker-go/tasker/store"
)

// Causes a running handler's context is cancelled with.
var (
	errTaskCancelled = errors.New("task cancelled")
	errLeaseLost     = maintainer.ErrLeaseLost
	errShutdown      = errors.New("engine shutting down")
)

// counters are the engine's running totals (see Stats).
type counters struct {
	claimTurns                                                        atomic.Int64 // claims made, for the ageing turns
	started, claimed, completed, retried, failed, discarded, released atomic.Int64
	claimTx, finishTx                                                 atomic.Int64
	claimedAtStart                                                    atomic.Int64
}

// Stats are running totals since the engine was created. Step counts
// include the durable steps of code-first workflows.
type Stats struct {
	TasksStarted     int64 // tasks this process's starts created
	StepsClaimed     int64 // steps (attempts) this process claimed
	StepsCompleted   int64 // attempts recorded complete (skipped steps included)
	StepsRetried     int64 // attempts that failed with a retry scheduled
	StepsFailed      int64 // attempts that failed their step for good
	ResultsDiscarded int64 // results refused because the lease was lost
	LeasesReleased   int64 // leases given back unrun at shutdown

	ClaimTransactions  int64 // claim transactions attempted
	FinishTransactions int64 // group commits of outcomes attempted
	// EventsDropped counts lifecycle events a full Subscribe channel
	// missed.
	EventsDropped int64
	// StepsClaimedAtStart counts the steps claimed by this process's
	// starts in the transactions that created their tasks (eager
	// dispatch; included in StepsClaimed).
	StepsClaimedAtStart int64
	// Running is the number of handlers running now.
	Running int
}

// Stats returns the engine's running totals.
func (e *Engine) Stats() Stats {
	s := &e.stat
	return Stats{
		TasksStarted: s.started.Load(), StepsClaimed: s.claimed.Load(), StepsCompleted: s.completed.Load(),
		StepsRetried: s.retried.Load(), StepsFailed: s.failed.Load(), ResultsDiscarded: s.discarded.Load(),
		LeasesReleased: s.released.Load(), ClaimTransactions: s.claimTx.Load(), FinishTransactions: s.finishTx.Load(),
		EventsDropped: e.bus.Dropped(), StepsClaimedAtStart: s.claimedAtStart.Load(), Running: e.inflight.Len(),
	}
}

// lifecycle tracks the active Run, if any.
type lifecycle struct {
	mu    sync.Mutex
	cur   *run
	steps int // RunOnce calls running: Run is refused meanwhile
}

// run is one Run: its parts and the signals that end it.
type run struct {
	stopClaiming   chan struct{} // closed by Stop
	stopOnce       sync.Once
	handlerBase    context.Context // handlers' parent context
	cancelHandlers context.CancelCauseFunc
	helperCtx      context.Context // heartbeat, maintenance, tuning
	stopHelpers    context.CancelFunc
	done           chan struct{} // closed when the run has ended
}

func (r *run) stop() { r.stopOnce.Do(func() { close(r.stopClaiming) }) }

// busy is the error a Run refused while r is active returns: once stopped,
// r lasts until its handlers return (n are running; after a Stop that gave
// up, those that ignore cancellation), which "already running" alone did
// not tell.
func (r *run) busy(n int) error {
	select {
	case <-r.stopClaiming:
	default:
		return ErrRunning
	}
	switch n {
	case 0:
		return fmt.Errorf("%w: the stopped run is still ending", ErrRunning)
	case 1:
		return fmt.Errorf("%w: the stopped run waits for 1 handler to return", ErrRunning)
	}
	return fmt.Errorf("%w: the stopped run waits for %d handlers to return", ErrRunning, n)
}

// runKey marks the contexts of a run's handlers with the run.
type runKey struct{}

// Run claims and executes steps until Stop is called or ctx ends (which
// stops at once: running handlers are cancelled and their leases
// released). Its maintenance pass, when this process leads it (see
// ExecutionConfig.RescueInterval), starts at once, rescuing leases that
// expired while no engine ran. Run in a goroutine of your own and Stop
// from another only after it has started (Status().Running);
// RunBackground does both safely.
//
// Run returns ErrRunning at once when a Run (or a RunOnce) is active
// already. Otherwise
// it returns nil once the run has ended, whichever ended it, Stop or ctx:
// unlike http.Server's ListenAndServe it has no error of its own to
// report, and it does not return ctx's error (ctx.Err() says whether ctx
// ended it).
func (e *Engine) Run(ctx context.Context) error {
	r, err := e.begin(ctx)
	if err != nil {
		return err
	}
	e.registerWorker(ctx)
	e.loop(ctx, r)
	return nil
}

// RunBackground starts Run in a goroutine and returns once it is running,
// so a Stop that follows always stops it; it returns ErrRunning when a
// Run (or a RunOnce) is active already. The channel receives Run's result, nil, when the
// run has ended, by Stop or by ctx.
func (e *Engine) RunBackground(ctx context.Context) (<-chan error, error) {
	r, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	e.registerWorker(ctx)
	done := make(chan error, 1)
	go func() {
		e.loop(ctx, r)
		done <- nil
	}()
	return done, nil
}

// begin makes the engine running (synchronously, so a Stop that follows
// sees it) and makes the run's stop signals; loop builds its parts.
func (e *Engine) begin(ctx context.Context) (*run, error) {
	l := &e.life
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil {
		return nil, l.cur.busy(e.inflight.Len())
	}
	if l.steps > 0 {
		return nil, fmt.Errorf("%w: RunOnce is stepping it (the engine is either run or stepped)", ErrRunning)
	}
	r := &run{stopClaiming: make(chan struct{}), done: make(chan struct{})}
	base := context.WithValue(context.WithoutCancel(ctx), runKey{}, r) // Stop tells its handlers' calls
	r.handlerBase, r.cancelHandlers = context.WithCancelCause(base)
	r.helperCtx, r.stopHelpers = context.WithCancel(context.WithoutCancel(ctx))
	l.cur = r
	return r, nil
}

// loop is the body of a run: it wires the parts, claims until stopped,
// then drains — no new claims, every handler's outcome committed (results
// that arrive while their lease holds are recorded, interrupted attempts
// give their leases back) — and ends the helpers.
func (e *Engine) loop(ctx context.Context, r *run) {
	x := e.cfg.Execution
	defer func() {
		e.life.mu.Lock()
		e.life.cur = nil
		e.life.mu.Unlock()
		close(r.done)
	}()
	outcomes := make(chan completer.Outcome, 4*x.MaxConcurrency)
	e.met.attach(e)
	defer e.met.detach(e)
	d := dispatch.New(x.MaxConcurrency, func(c *store.ClaimedStep) func() {
		o, ok := e.measured(r.handlerBase, c)
		if !ok {
			return nil
		}
		return func() { outcomes <- o }
	})
	comp := e.newCompleter(d)
	completerDone := make(chan struct{})
	go func() { defer close(completerDone); comp.Run(outcomes) }()

	helperCtx := r.helperCtx
	var helpers sync.WaitGroup
	helpers.Go(func() { e.maint.Heartbeat(helperCtx) })
	helpers.Go(func() { e.maint.Maintain(helperCtx) })
	helpers.Go(func() { e.sched.Run(helperCtx) })
	tn := e.newTuning(d)
	e.tuneStep(helperCtx, tn)
	e.tun.p.Store(tn)
	defer e.tun.p.Store(nil)
	helpers.Go(func() { e.tune(helperCtx, tn) })
	go func() { // ctx ending is a hard stop
		select {
		case <-ctx.Done():
			r.cancelHandlers(errShutdown)
			r.stop()
		case <-r.done:
		}
	}()

	e.coordinate(ctx) // logs the coordination mode
	cl := e.newClaimLoop(d, tn)
	e.eager.Store(&eagerRun{d: d, loop: cl})
	cl.Run(ctx, r.stopClaiming)

	e.eager.Store(nil)
	d.Close() // no new claims
	d.Wait()  // every handler has sent its outcome
	close(outcomes)
	<-completerDone
	r.stopHelpers()
	helpers.Wait() // no heartbeat can re-register the worker after this
	e.closed()     // the children of the workflows it failed (commits, rescues) are cancelled
	e.deregisterWorker(context.WithoutCancel(ctx))
	r.cancelHandlers(errShutdown)
	e.releaseCoordination()
	if e.far != nil {
		// The watcher lingering after the last Wait holds a read
		// connection: a program that stops, then closes its store, would
		// leave the SQLite file's -wal and -shm behind.
		e.far.Close()
	}
}

func (e *Engine) newClaimLoop(d *dispatch.Dispatcher, tn *tuning) *claimer.Loop {
	x := e.cfg.Execution
	return claimer.New(claimer.Config{Owner: e.cfg.WorkerID, BatchSize: x.BatchSize, LeaseTTL: x.LeaseTTL, PollInterval: x.PollInterval,
		Handlers: e.reg.Names, Queues: x.Queues, ByReadyTime: e.ageTurn, Batch: e.batchSize(tn)},
		e.st, e.clk, e.log, d, &e.due, e.wake, claimer.Hooks{
			Claimed:     func(n int) { e.stat.claimed.Add(int64(n)) },
			Transaction: func() { e.stat.claimTx.Add(1); e.met.claimTransaction() },
			Rescue:      e.idleRescue,
			Batch:       batchOutcome(tn),
		})
}

func (e *Engine) newCompleter(d *dispatch.Dispatcher) *completer.Completer {
	x := e.cfg.Execution
	return completer.New(completer.Config{Owner: e.cfg.WorkerID, BatchSize: x.BatchSize, LeaseTTL: x.LeaseTTL, MaxPayloadBytes: e.cfg.MaxPayloadBytes,
		Handlers: e.reg.Names, Queues: x.Queues, ByReadyTime: e.ageTurn, Backlog: e.backlog, Watched: e.waiters.Has, Wanted: e.waiters.Wanted},
		e.st, e.clk, e.log, d, completer.Hooks{
			Committed:   e.committed,
			Claimed:     func(n int) { e.stat.claimed.Add(int64(n)) },
			Released:    func(n int) { e.stat.released.Add(int64(n)) },
			Transaction: func() { e.stat.finishTx.Add(1); e.met.finishTransaction() },
			Oversized:   e.oversized,
		})
}

// backlog reports whether the claim loop may have left ready work behind
// (true while it does not run).
func (e *Engine) backlog() bool {
	r := e.eager.Load()
	return r == nil || r.loop.Backlog()
}

// oversized records a result over the payload limit as its step's
// permanent failure.
func (e *Engine) oversized(o completer.Outcome, limit int) completer.Outcome {
	st := o.Claimed.Step
	f := failure{StepError: StepError{Step: st.Name, Attempt: st.Attempts, Kind: KindPayloadTooLarge, Code: KindPayloadTooLarge,
		Message: fmt.Sprintf("result of step %s is %d bytes, over the limit of %d bytes (Config.MaxPayloadBytes)", st.Name, len(o.Results), limit)}}
	// Diagnosed as every recorded failure is (it went without one).
	var policy stepPolicy
	if len(st.Policy) > 0 {
		_ = json.Unmarshal(st.Policy, &policy)
	}
	a := attemptInfo{workflow: workflowOfTask(o.Claimed.Task), step: st.Name, attempt: st.Attempts, limit: st.RetryLimit, retryable: st.Retryable}
	f.Diagnosis = e.diagnoseFailure(&f, a, policy, fmt.Errorf("%w: %s", ErrPayloadTooLarge, f.Message), errclass.Unknown)
	o.Kind, o.Results, o.Error, o.RetryAfter = store.OutcomeFail, nil, f.doc(), 0
	return o
}

// Stop stops claiming, lets running handlers finish until ctx ends, then
// cancels the rest and returns. When they all return on cancellation, it
// first waits (at most a lease TTL) for their outcomes to be recorded and
// their leases given back, and returns nil. It returns even if a handler
// ignores cancellation: such a handler's result is still recorded if it
// returns while its lease holds, and otherwise its lease expires and the
// step runs again (both logged); until it returns, the run counts as
// active (Run returns ErrRunning, saying how many handlers it waits for). With no Run active, Stop releases what
// the engine holds, as Close does (the cache it created, the watcher
// lingering after the last Wait), and returns nil; it leaves nothing
// behind that a later Run would see.
func (e *Engine) Stop(ctx context.Context) error {
	e.life.mu.Lock()
	r := e.life.cur
	e.life.mu.Unlock()
	if r == nil {
		_ = e.Close() // as a run's end does, the cache's Close error unreported
		return nil
	}
	r.stop()
	if ctx.Value(runKey{}) == r {
		return nil
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
	}
	r.cancelHandlers(errShutdown)
	select {
	case <-r.done:
		return nil
	case <-time.After(stopGrace):
	}
	if e.inflight.Len() == 0 {
		// Every handler has returned: what is left is the database's
		// (recording their outcomes, giving their leases back, leaving
		// the registry), worth waiting for — at most a lease TTL, past
		// which the leases have expired anyway.
		select {
		case <-r.done:
			return nil
		case <-time.After(e.cfg.Execution.LeaseTTL):
		}
	}
	// Leave the leases of handlers that ignore cancellation to expire: no
	// more heartbeats.
	r.stopHelpers()
	if n := e.inflight.Len(); n > 0 {
		e.log.Warn("stop: handlers ignore cancellation; their results are recorded if they return while their leases hold, otherwise the leases expire and the steps run again",
			zap.Int("handlers", n), zap.Duration("lease_ttl", e.cfg.Execution.LeaseTTL))
	}
	return fmt.Errorf("stopping the engine: %w", ctx.Err())
}

// ageEvery: every tenth claim (by the claim loop or in a commit) takes the
// longest-waiting ready steps whatever their priority (see WithPriority).
const ageEvery = 10

// ageTurn reports whether this claim is an ageing turn.
func (e *Engine) ageTurn() bool { return e.stat.claimTurns.Add(1)%ageEvery == 0 }

// stopGrace is how long Stop waits, after cancelling the handlers, for those
// that honour cancellation to return.
const stopGrace = 20 * time.Millisecond
