package engine

import (
	"context"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/completer"
	"github.com/tasker-go/tasker/store"
)

// Rescue returns steps whose leases expired to pending now (the engine also
// does it on an interval) and reports how many steps and tasks it moved; a
// step out of attempts fails its task instead, and a task past its
// workflow timeout (WithWorkflowTimeout) fails with ErrWorkflowTimeout,
// also when no worker claims its steps. A code-first workflow it fails
// either way has its unfinished children (and theirs) cancelled, as a
// cancelled one has: no one is left to read their results (see Child).
// It also cancels (and counts) the unfinished children of tasks that
// ended for good earlier — cancelled, resolved by hand, complete — which
// the process ending them did not cancel (it died first), up to
// maintainer.OrphanPerPass, as the leader's maintenance pass does; those
// of a task in error it leaves be (a retry of the task reads them).
func (e *Engine) Rescue(ctx context.Context) (int, error) {
	n, err := e.maint.Rescue(ctx)
	e.closed() // the children of the workflows it failed are cancelled when it returns
	if err != nil {
		return n, err
	}
	return n + e.maint.CloseOrphans(ctx), nil
}

// idleRescue is the claim loop's rescue, when it is idle and a lease's
// expiry fell due: a failure is logged, as the maintenance pass logs its
// own, and the next pass (or the next expiry) tries again.
func (e *Engine) idleRescue(ctx context.Context) int {
	n, err := e.maint.Rescue(ctx)
	if err != nil && ctx.Err() == nil {
		e.log.Warn("rescuing expired leases failed: the maintenance pass tries again", zap.Error(err))
	}
	return n
}

// rescued is the maintainer's hook: the steps and tasks a rescue moved are
// announced (a step with attempts left as a retry scheduled, one with none
// as failed, with the lease's expiry as their error) and counted as a
// commit's are, and rescued steps are claimable now.
func (e *Engine) rescued(res *store.RescueResult) {
	e.met.leasesRescued(res.Rescued + res.Failed)
	retried := false
	for _, s := range res.Steps {
		ev := Event{Name: EventStepRetryScheduled, TaskID: s.TaskID, Step: s.Name, Attempt: s.Attempts, Error: string(s.Error)}
		if s.State == store.StepError {
			ev.Name = EventStepFailed
			e.stat.failed.Add(1)
		} else {
			e.stat.retried.Add(1)
			retried = true
		}
		e.emit(ev)
	}
	if retried && e.met != nil {
		e.countRescuedRetries(res.Steps)
	}
	// The code-first tasks among them (only they have children).
	var parents []int64
	for _, t := range res.FailedTasks { // the counter needs their workflow, the span their trace context
		e.met.taskEnded(t.Namespace, t.Name, true)
		if t.TraceContext != "" {
			e.traceTaskEnd(context.Background(), t, store.TaskError, t.LastError)
		}
		if t.Kind == store.KindCode {
			parents = append(parents, t.ID)
		}
	}
	for _, t := range res.Tasks {
		e.emit(Event{Name: EventTaskFailed, TaskID: t.TaskID})
		e.taskChanged(t.TaskID)
	}
	e.closeChildrenLater(parents) // off the claim loop's goroutine too (it rescues when idle)
	if res.Rescued+res.Failed+res.TimedOut > 0 {
		e.Notify()
	}
}

// countRescuedRetries counts the retries a rescue scheduled (steps back to
// pending) in step_retries_total, by workflow: the pass returns the steps'
// tasks by id only, so their workflows are read, in one statement. When
// the read fails they go uncounted (logged at debug).
func (e *Engine) countRescuedRetries(steps []store.RescuedStep) {
	var ids []int64
	seen := map[int64]bool{}
	for _, s := range steps {
		if s.State == store.StepPending && !seen[s.TaskID] {
			seen[s.TaskID] = true
			ids = append(ids, s.TaskID)
		}
	}
	tasks, err := e.st.GetTaskOutcomes(context.Background(), ids)
	if err != nil {
		e.log.Debug("reading the workflows of rescued steps failed; their retries are not counted", zap.Error(err))
		return
	}
	byID := make(map[int64]*store.TaskOutcome, len(tasks))
	for _, t := range tasks {
		byID[t.ID] = t
	}
	for _, s := range steps {
		if t := byID[s.TaskID]; t != nil && s.State == store.StepPending {
			e.met.retried(t.Namespace, t.Name)
		}
	}
}

// finishedWhole returns, by id, the tasks the commit finished whole for
// this process's waiters and handles: those the store returned with the
// commit (FinishStepsResult.Finished), and the others anyone here waits for
// or may wait for, read in one statement. Each waiter would otherwise read
// its own (a harness of 2,000 one-step workflows, each waited for, made
// 2,000 reads on SQLite). The read comes after the completer has settled
// the commit's claim, so it holds no slot. When it fails, the waiters read
// for themselves.
func (e *Engine) finishedWhole(finish []completer.Outcome, res *store.FinishStepsResult) map[int64]*store.TaskOutcome {
	if len(res.Tasks) == 0 {
		return nil
	}
	wholes := make(map[int64]*store.TaskOutcome, len(res.Tasks))
	for _, d := range res.Finished {
		wholes[d.Task.ID] = d.Outcome()
	}
	var identity map[int64]string
	var read []int64
	for _, t := range res.Tasks {
		if !t.To.Done() || wholes[t.TaskID] != nil {
			continue
		}
		if identity == nil {
			identity = make(map[int64]string, len(finish))
			for _, o := range finish {
				if o.Claimed != nil && o.Claimed.Task != nil {
					identity[o.Claimed.Task.ID] = o.Claimed.Task.IdentityKey
				}
			}
		}
		if e.waiters.Has(t.TaskID) || e.waiters.Wanted(identity[t.TaskID]) {
			read = append(read, t.TaskID)
		}
	}
	if len(read) == 0 {
		return wholes
	}
	got, err := e.st.GetTaskOutcomes(context.Background(), read)
	if err != nil {
		e.log.Debug("reading finished tasks for their waiters failed; they read them themselves", zap.Error(err))
		return wholes
	}
	for _, d := range got {
		wholes[d.ID] = d
	}
	return wholes
}

// committed is the completer's hook: it counts, logs and announces what a
// commit recorded, wakes the task's waiters, and tells the claim loop when
// the retries it scheduled are due.
func (e *Engine) committed(finish []completer.Outcome, res *store.FinishStepsResult) {
	now := e.clk.Now()
	retry, freed := false, false
	for i, r := range res.Steps {
		o := finish[i]
		st := o.Claimed.Step
		freed = freed || st.ConcGroup != nil || st.RateSystem != nil
		ev := Event{TaskID: st.TaskID, Step: st.Name, Attempt: st.Attempts}
		switch {
		case r.Err != nil:
			e.stat.discarded.Add(1)
			e.met.resultDiscarded()
			o.Log.Warn("result discarded: the lease was lost before it was recorded", zap.Error(r.Err))
			ev.Name, ev.Error = EventStepDiscarded, r.Err.Error()
		case o.Kind == store.OutcomeSuspend:
			ev.Name = EventStepSuspended
			o.Log.Debug("workflow suspended", zap.Duration("for", o.RetryAfter))
			if len(o.WakeOnEvents) == 0 || o.RetryAfter > 0 {
				e.due.Add(now.Add(o.RetryAfter))
			}
		case r.State == store.StepComplete && isSkip(o.Metadata):
			e.stat.completed.Add(1)
			ev.Name = EventStepSkipped
			o.Log.Info("step skipped")
		case r.State == store.StepComplete:
			e.stat.completed.Add(1)
			o.Log.Debug("step completed")
			ev.Name = EventStepCompleted
		case r.State == store.StepPending:
			e.stat.retried.Add(1)
			if t := o.Claimed.Task; t != nil {
				e.met.retried(t.Namespace, t.Name)
			}
			retry = true
			e.due.Add(now.Add(o.RetryAfter))
			ev.Name, ev.Error = EventStepRetryScheduled, string(o.Error)
			o.Log.Info("step failed; retry scheduled", zap.Duration("retry_in", o.RetryAfter), zap.ByteString("error", o.Error))
		default:
			e.stat.failed.Add(1)
			ev.Name, ev.Error = EventStepFailed, string(o.Error)
			// Info, not Warn: Wait, Explain and the events report it (see
			// Config.Logger).
			o.Log.Info("step failed", zap.ByteString("error", o.Error))
		}
		e.emit(ev)
	}
	if e.met != nil && len(res.Tasks) > 0 {
		e.countEnded(finish, res.Tasks)
	}
	if len(res.Tasks) > 0 {
		e.traceEnded(finish, res.Tasks)
	}
	wholes := e.finishedWhole(finish, res) // the commit's copies, for this process's waiters
	for _, t := range res.Tasks {
		whole := wholes[t.TaskID]
		// Waiters and handles first: a subscriber told of the task can
		// Wait for it without a read.
		e.taskFinished(t.TaskID, whole)
		name := EventTaskCompleted
		if t.To == store.TaskError {
			name = EventTaskFailed
		}
		e.emit(Event{Name: name, TaskID: t.TaskID})
	}
	e.closeChildrenLater(failedCode(finish, res.Tasks)) // off this goroutine: see closer
	// Steps this commit released and did not claim itself: let the claim
	// loop look; a retry also tells other processes (their loops find it
	// due through the store; ours has its due time above).
	// A finished step in a concurrency group frees a slot that steps
	// waiting in other processes may take.
	if res.Unblocked > len(res.Claimed) || retry || freed {
		e.Notify()
	}
}

// failedCode returns the code-first tasks a commit failed (only they have
// children: see closeChildren).
func failedCode(finish []completer.Outcome, tasks []store.TaskChange) []int64 {
	var ids []int64
	for _, c := range tasks {
		if c.To != store.TaskError {
			continue
		}
		for _, o := range finish {
			if t := o.Claimed.Task; t != nil && t.ID == c.TaskID && t.Kind == store.KindCode {
				ids = append(ids, c.TaskID)
				break
			}
		}
	}
	return ids
}

// statsStore is a store whose planner statistics the maintenance leader
// keeps up with the tables' growth (Postgres: RefreshStats).
type statsStore interface {
	RefreshStats(ctx context.Context) ([]string, error)
}

// countEnded counts the tasks a commit finished by workflow, read from
// the steps of the same commit.
func (e *Engine) countEnded(finish []completer.Outcome, tasks []store.TaskChange) {
	byID := make(map[int64]*store.Task, len(tasks))
	for _, o := range finish {
		if t := o.Claimed.Task; t != nil {
			byID[t.ID] = t
		}
	}
	for _, c := range tasks {
		if t, ok := byID[c.TaskID]; ok && c.To.Done() {
			e.met.taskEnded(t.Namespace, t.Name, c.To != store.TaskComplete)
		}
	}
}

// traceEnded records the run spans of the traced tasks a commit finished.
func (e *Engine) traceEnded(finish []completer.Outcome, tasks []store.TaskChange) {
	traced := false
	for _, o := range finish {
		if t := o.Claimed.Task; t != nil && t.TraceContext != "" {
			traced = true
			break
		}
	}
	if !traced { // the common case when tracing is off: nothing to look up
		return
	}
	type ended struct {
		task *store.Task
		err  store.JSON
	}
	byID := make(map[int64]*ended, len(tasks))
	for _, o := range finish {
		if t := o.Claimed.Task; t != nil && t.TraceContext != "" {
			x := byID[t.ID]
			if x == nil {
				x = &ended{task: t}
				byID[t.ID] = x
			}
			if len(o.Error) > 0 {
				x.err = o.Error
			}
		}
	}
	for _, c := range tasks {
		if x, ok := byID[c.TaskID]; ok && c.To.Done() {
			e.traceTaskEnd(context.Background(), x.task, c.To, x.err)
		}
	}
}

// maintained is the maintainer's hook after each pass: the leader
// refreshes the planner's statistics of tables that outgrew them
// (Postgres) and measures the queues' lag for the metrics; a process that
// does not lead exports none (the leader's figures are the fleet's).
func (e *Engine) maintained(ctx context.Context, leading bool) {
	if r, ok := e.st.(statsStore); ok && leading {
		if tables, err := r.RefreshStats(ctx); err != nil {
			if ctx.Err() == nil {
				e.log.Warn("refreshing the planner's statistics failed", zap.Error(err))
			}
		} else if len(tables) > 0 {
			e.log.Info("tables analyzed: they changed more than their statistics knew", zap.Strings("tables", tables))
		}
	}
	if e.met == nil {
		return
	}
	if !leading {
		e.met.queueLags(e, nil)
		return
	}
	lags, err := e.st.QueueLags(ctx, e.now())
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("measuring queue lag failed", zap.Error(err))
		}
		return
	}
	now := e.clk.Now()
	out := make(map[string]queueLag, len(lags))
	for _, l := range lags {
		out[l.Queue] = queueLag{ready: l.Ready, age: max(now.Sub(l.OldestDueAt), 0)}
	}
	e.met.queueLags(e, out)
}
