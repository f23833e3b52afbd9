package engine

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

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
