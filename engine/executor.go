package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

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
