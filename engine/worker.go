package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
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
		free := d.max - running
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

// execute runs one attempt and hands its outcome to the completer.
func (e *Engine) execute(base context.Context, c *store.ClaimedStep, out chan<- outcome) {
	st := c.Step
	key := fmt.Sprintf("%d:%s", st.TaskID, st.Name)
	log := e.log.With(zap.Int64("task_id", st.TaskID), zap.String("step", st.Name), zap.Int("attempt", st.Attempts), zap.String("idempotency_key", key))
	var policy stepPolicy
	if len(st.Policy) > 0 {
		_ = json.Unmarshal(st.Policy, &policy)
	}
	ctx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	e.imu.Lock()
	e.inflight[st.ID] = &inflight{lease: st.Lease(), taskID: st.TaskID, cancel: cancel}
	e.imu.Unlock()
	defer func() {
		e.imu.Lock()
		delete(e.inflight, st.ID)
		e.imu.Unlock()
	}()
	if wait, held := e.systemHold(ctx, policy.DependentSystem); held {
		// The system this step calls is paused (a 429 seen by any worker
		// sharing the cache) or its breaker is open: the step goes back
		// to pending until then, its attempt not counted.
		log.Debug("dependent system held back; step waits", zap.String("system", policy.DependentSystem), zap.Duration("wait", wait))
		o := outcome{claimed: c, log: log}
		o.Lease, o.Kind, o.RetryAfter = st.Lease(), store.OutcomeSuspend, max(wait, 0)
		o.Metadata = store.MustJSON(map[string]string{"reason": "dependent system held back", "system": policy.DependentSystem})
		out <- o
		return
	}
	e.emit(Event{Name: EventStepStarted, TaskID: st.TaskID, Step: st.Name, Attempt: st.Attempts})

	timeout := policy.Timeout
	if timeout == 0 {
		timeout = e.cfg.Execution.DefaultTimeout
	}
	runCtx := ctx
	if timeout > 0 {
		var stopTimeout context.CancelFunc
		runCtx, stopTimeout = context.WithTimeout(ctx, timeout)
		defer stopTimeout()
	}
	workflow := ""
	var input store.JSON
	if c.Task != nil {
		workflow, input = c.Task.Namespace+"/"+c.Task.Name, c.Task.Context
	}
	sc := &StepContext{Context: runCtx, TaskID: st.TaskID, StepID: st.ID, Workflow: workflow, Step: st.Name, Handler: st.Handler,
		Attempt: st.Attempts, IdempotencyKey: key, Logger: log, input: input, config: st.Config, deps: c.Deps}

	var result any
	var err error
	if h, ok := e.reg.Lookup(st.Handler); ok {
		result, err = callHandler(h, sc)
	} else {
		err = fmt.Errorf("no handler %q is registered in this process", st.Handler)
	}
	o := outcome{claimed: c, log: log}
	o.Lease = st.Lease()
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errShutdown):
		o.release = true
		out <- o
		return
	case errors.Is(cause, errTaskCancelled), errors.Is(cause, errLeaseLost):
		e.stat.discarded.Add(1)
		log.Info("attempt abandoned", zap.Error(cause))
		e.emit(Event{Name: EventStepDiscarded, TaskID: st.TaskID, Step: st.Name, Attempt: st.Attempts, Error: cause.Error()})
		return
	}
	if s, ok := asSuspend(err); ok { // a code-first workflow waits
		o.Kind, o.RetryAfter, o.WakeOnEvent, o.Metadata = store.OutcomeSuspend, s.after, s.event, s.metadata()
		out <- o
		return
	}
	pause := e.systemResult(ctx, policy.DependentSystem, err)
	if err == nil {
		doc, merr := json.Marshal(result)
		if merr != nil {
			err = Permanent(fmt.Errorf("encoding result of step %s: %w", st.Name, merr))
		} else {
			o.Kind, o.Results = store.OutcomeComplete, doc
			out <- o
			return
		}
	}
	if runCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		err = &RetryableError{Err: fmt.Errorf("step %s timed out after %s: %w", st.Name, timeout, err)}
	}
	o.Kind, o.RetryAfter, o.Error = e.classify(st, policy, err)
	o.RetryAfter = max(o.RetryAfter, pause) // never before the system's pause ends
	out <- o
}

// classify turns a handler error into the store's outcome: permanent
// errors fail at once; retryable ones wait the policy's backoff (at least
// the requested delay) and honour their own retry cap.
func (e *Engine) classify(st *store.Step, policy stepPolicy, err error) (store.OutcomeKind, time.Duration, store.JSON) {
	doc := map[string]any{"error": err.Error(), "attempt": st.Attempts}
	kind := store.OutcomeRetry
	var requested time.Duration
	var perm *PermanentError
	var re *RetryableError
	var pe *PanicError
	switch {
	case errors.As(err, &perm):
		kind = store.OutcomeFail
		doc["kind"] = "permanent"
		if perm.Code != "" {
			doc["code"] = perm.Code
		}
		if perm.Context != nil {
			doc["context"] = perm.Context
		}
	case errors.As(err, &pe):
		doc["kind"] = "panic"
		doc["stack"] = pe.Stack
	case errors.As(err, &re):
		doc["kind"] = "retryable"
		requested = re.RetryAfter
		if re.MaxRetries > 0 && st.Attempts > re.MaxRetries {
			kind = store.OutcomeFail
			doc["kind"] = "retries_exhausted"
		}
		if re.Context != nil {
			doc["context"] = re.Context
		}
	default:
		doc["kind"] = "error"
	}
	bp := policy.Backoff
	if bp.Base == 0 && bp.Max == 0 {
		bp = e.cfg.Retry
	}
	delay := bp.Next(st.Attempts, requested)
	if requested > 0 {
		doc["retry_after_ms"] = requested.Milliseconds()
	}
	raw, _ := json.Marshal(doc)
	return kind, delay, raw
}

func callHandler(h Handler, sc *StepContext) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: string(debug.Stack())}
		}
	}()
	return h.Handle(sc)
}

// complete groups outcomes into as few commits as the flow allows: it
// takes whatever has queued up while the previous commit ran.
func (e *Engine) complete(in <-chan outcome, d *dispatcher) {
	ctx := context.Background()
	for first := range in {
		group := []outcome{first}
	drain:
		for len(group) < 1000 {
			select {
			case o, ok := <-in:
				if !ok {
					break drain
				}
				group = append(group, o)
			default:
				break drain
			}
		}
		e.commit(ctx, group, d)
	}
}

// commit records a group of outcomes in one transaction. With a
// dispatcher, the same transaction claims ready steps (the dependants this
// commit releases among them) for the room there is, and starts them.
func (e *Engine) commit(ctx context.Context, group []outcome, d *dispatcher) {
	var finish []outcome
	var release []store.Lease
	for _, o := range group {
		if o.release {
			release = append(release, o.Lease)
		} else {
			finish = append(finish, o)
		}
	}
	if len(release) > 0 {
		n, err := e.st.ReleaseLeases(ctx, &store.ReleaseLeasesParams{Leases: release, Now: e.now()})
		if err != nil {
			e.log.Warn("releasing leases at shutdown failed; they will expire", zap.Error(err))
		}
		e.stat.released.Add(int64(n))
	}
	if len(finish) == 0 {
		return
	}
	params := &store.FinishStepsParams{Outcomes: make([]store.StepOutcome, len(finish)), Now: e.now()}
	for i, o := range finish {
		params.Outcomes[i] = o.StepOutcome
	}
	reserved := 0
	if d != nil {
		if reserved = d.reserve(e.cfg.Execution.BatchSize); reserved > 0 {
			params.Claim = &store.ClaimStepsParams{Owner: e.cfg.WorkerID, Limit: reserved, LeaseTTL: e.cfg.Execution.LeaseTTL, Now: params.Now}
		}
	}
	var res *store.FinishStepsResult
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		res, err = e.st.FinishSteps(ctx, params)
		e.stat.finishTx.Add(1)
		if err == nil || errors.Is(err, store.ErrInvalid) {
			break
		}
		e.log.Warn("recording step outcomes failed; retrying", zap.Int("outcomes", len(finish)), zap.Error(err))
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	if reserved > 0 {
		var claimed []*store.ClaimedStep
		if err == nil {
			claimed = res.Claimed
			e.stat.claimed.Add(int64(len(claimed)))
		}
		d.settle(reserved, claimed)
	}
	if err != nil {
		e.log.Error("recording step outcomes failed; their leases will expire and the steps run again", zap.Error(err))
		return
	}
	for i, r := range res.Steps {
		o := finish[i]
		st := o.claimed.Step
		ev := Event{TaskID: st.TaskID, Step: st.Name, Attempt: st.Attempts}
		switch {
		case r.Err != nil:
			e.stat.discarded.Add(1)
			o.log.Warn("result discarded: the lease was lost before it was recorded")
			ev.Name = EventStepDiscarded
		case o.Kind == store.OutcomeSuspend:
			ev.Name = EventStepSuspended
			o.log.Debug("workflow suspended", zap.Duration("for", o.RetryAfter))
		case r.State == store.StepComplete:
			e.stat.completed.Add(1)
			o.log.Debug("step completed")
			ev.Name = EventStepCompleted
		case r.State == store.StepPending:
			e.stat.retried.Add(1)
			ev.Name, ev.Error = EventStepRetryScheduled, string(o.Error)
			o.log.Info("step failed; retry scheduled", zap.Duration("retry_in", o.RetryAfter), zap.ByteString("error", o.Error))
		default:
			e.stat.failed.Add(1)
			ev.Name, ev.Error = EventStepFailed, string(o.Error)
			o.log.Warn("step failed", zap.ByteString("error", o.Error))
		}
		e.emit(ev)
	}
	for _, t := range res.Tasks {
		name := EventTaskCompleted
		if t.To == store.TaskError {
			name = EventTaskFailed
		}
		e.emit(Event{Name: name, TaskID: t.TaskID})
		e.taskChanged(t.TaskID)
	}
	// Steps this commit released and did not claim itself, or retries
	// due later: let the claim loop look.
	if res.Unblocked > len(res.Claimed) || anyRetry(res) {
		e.Notify()
	}
}

func anyRetry(res *store.FinishStepsResult) bool {
	for _, s := range res.Steps {
		if s.State == store.StepPending {
			return true
		}
	}
	return false
}

// heartbeat extends the leases of running steps every third of the lease
// TTL and cancels the handlers whose lease was lost.
func (e *Engine) heartbeat(ctx context.Context) {
	every := e.cfg.Execution.LeaseTTL / 3
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.clk.After(every):
		}
		e.imu.Lock()
		leases := make([]store.Lease, 0, len(e.inflight))
		for _, f := range e.inflight {
			leases = append(leases, f.lease)
		}
		e.imu.Unlock()
		if len(leases) == 0 {
			continue
		}
		lost, err := e.st.ExtendLeases(ctx, &store.ExtendLeasesParams{Leases: leases, LeaseTTL: e.cfg.Execution.LeaseTTL, Now: e.now()})
		if err != nil {
			e.log.Warn("extending leases failed", zap.Error(err))
			continue
		}
		e.imu.Lock()
		for _, l := range lost {
			if f, ok := e.inflight[l.StepID]; ok && f.lease == l {
				f.cancel(errLeaseLost)
			}
		}
		e.imu.Unlock()
	}
}

// maintain runs the periodic upkeep — rescuing expired leases and, when
// Retention is set, deleting old finished tasks — in the one process that
// holds the "maintenance" leadership (always this one on SQLite).
func (e *Engine) maintain(ctx context.Context) {
	x := e.cfg.Execution
	leading := false
	defer func() {
		if leading {
			_ = e.st.Resign(context.WithoutCancel(ctx), "maintenance", e.cfg.WorkerID)
		}
	}()
	for {
		lead := true
		if !e.st.Capabilities().SingleWriter {
			var err error
			lead, err = e.st.Elect(ctx, &store.ElectParams{Name: "maintenance", Owner: e.cfg.WorkerID, TTL: 3 * x.RescueInterval, Now: e.now()})
			if err != nil && ctx.Err() == nil {
				e.log.Warn("maintenance election failed", zap.Error(err))
			}
			if lead != leading {
				e.log.Info("maintenance leadership changed", zap.Bool("leader", lead))
			}
		}
		leading = lead
		if lead {
			e.Rescue(ctx)
			if x.Retention > 0 {
				e.purge(ctx, e.clk.Now().Add(-x.Retention))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.clk.After(x.RescueInterval):
		}
	}
}

// purge deletes finished tasks older than before in bounded batches.
func (e *Engine) purge(ctx context.Context, before time.Time) {
	for ctx.Err() == nil {
		n, err := e.st.DeleteFinished(ctx, &store.DeleteFinishedParams{Before: before, Limit: 500})
		if err != nil {
			e.log.Warn("retention: deleting finished tasks failed", zap.Error(err))
			return
		}
		if n < 500 {
			return
		}
	}
}

// Rescue returns steps whose leases expired to pending now (the engine also
// does it on an interval) and reports how many it moved.
func (e *Engine) Rescue(ctx context.Context) int {
	res, err := e.st.RescueExpired(ctx, &store.RescueExpiredParams{Now: e.now()})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("rescuing expired leases failed", zap.Error(err))
		}
		return 0
	}
	for _, t := range res.Tasks {
		e.emit(Event{Name: EventTaskFailed, TaskID: t.TaskID})
		e.taskChanged(t.TaskID)
	}
	if n := res.Rescued + res.Failed; n > 0 {
		e.log.Info("rescued steps with expired leases", zap.Int("rescued", res.Rescued), zap.Int("failed", res.Failed))
		e.Notify()
		return n
	}
	return 0
}
