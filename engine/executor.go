package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine/internal/attempt"
	"github.com/tasker-go/tasker/engine/internal/completer"
	"github.com/tasker-go/tasker/engine/internal/errclass"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
)

// execute runs one attempt of a claimed step and returns its outcome for
// the completer; ok is false when the attempt was abandoned (its task
// cancelled or its lease lost: nothing may be recorded).
func (e *Engine) execute(base context.Context, c *store.ClaimedStep) (o completer.Outcome, ok bool) {
	st := c.Step
	skew := e.storeSkew(st)
	key := stepKey(st.TaskID, st.Name)
	log := e.log.With(zap.Int64("task_id", st.TaskID), zap.String("step", st.Name), zap.Int("attempt", st.Attempts), zap.String("idempotency_key", key))
	var policy stepPolicy
	if len(st.Policy) > 0 {
		_ = json.Unmarshal(st.Policy, &policy)
	}
	var deadline time.Time // the task's, by the store's clock
	if c.Task != nil && c.Task.DeadlineAt != nil {
		// By this engine's clock from here on: the store's less the
		// measured skew, an underestimate, so never early.
		deadline = *c.Task.DeadlineAt
		policy.Deadline = deadline.Add(-skew)
	}
	ctx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	if older := e.inflight.Add(st.Lease(), st.TaskID, cancel); older != nil {
		older(errLeaseLost) // this process runs the step again: its lost attempt stops
	}
	defer e.inflight.Remove(st.Lease())
	o = completer.Outcome{Claimed: c, Log: log}
	o.Lease = st.Lease()
	wait, probe, held := e.systemHold(ctx, policy.DependentSystem)
	if held {
		// The system this step calls is paused (a 429 seen by any worker
		// sharing the cache) or its breaker is open: the step goes back
		// to pending until then, its attempt not counted.
		log.Debug("dependent system held back; step waits", zap.String("system", policy.DependentSystem), zap.Duration("wait", wait))
		o.Kind, o.RetryAfter = store.OutcomeSuspend, max(wait, 0)
		o.Metadata = store.MustJSON(map[string]string{"reason": "dependent system held back", "system": policy.DependentSystem})
		return o, true
	}
	// An attempt whose outcome the breaker never hears of (skipped, past
	// its deadline, abandoned) gives a half-open breaker's probe back: the
	// breaker refused every step for another OpenFor, nobody probing.
	defer func() { probe.Release() }()
	if dl := policy.Deadline; !dl.IsZero() {
		if !e.clk.Now().Before(dl) {
			o.Kind, o.RetryAfter, o.Error = e.classify(ctx, attemptInfo{workflow: workflowOfTask(c.Task), step: st.Name, attempt: st.Attempts}, policy, workflowTimeout(st.TaskID, dl))
			return o, true
		}
		if _, wall := e.clk.(clock.Real); wall {
			var stop context.CancelFunc
			ctx, stop = context.WithDeadline(ctx, dl)
			defer stop()
		}
	}
	e.emit(Event{Name: EventStepStarted, TaskID: st.TaskID, Step: st.Name, Attempt: st.Attempts})

	timeout := policy.Timeout
	if timeout == 0 && !strings.HasPrefix(st.Handler, WorkflowHandlerPrefix) {
		// Not a code-first driver's run: it executes durable steps one
		// after another, each bounded by its own timeout or this default.
		timeout = e.cfg.Execution.DefaultTimeout
	}
	workflow := ""
	var input store.JSON
	if c.Task != nil {
		workflow, input = c.Task.Namespace+"/"+c.Task.Name, c.Task.Context
	}
	h, found := e.reg.Lookup(st.Handler)
	input, deps, cerr := e.decodeClaimed(input, c.Deps) // Config.Codec
	var sc *StepContext
	res := attempt.Run(ctx, timeout, func(runCtx context.Context) (any, error) {
		if !found {
			return nil, &noHandlerError{handler: st.Handler}
		}
		if cerr != nil {
			return nil, Permanent(cerr)
		}
		sc = &StepContext{Context: runCtx, TaskID: st.TaskID, StepID: st.ID, Workflow: workflow, Step: st.Name, Handler: st.Handler,
			Attempt: st.Attempts, IdempotencyKey: key, Logger: log, input: input, config: st.Config, deps: deps, skippable: st.Skippable, storeSkew: skew, deadline: deadline}
		if st.Attempts == 1 && st.TransitionSeq == 1 {
			// The step's first claim ever (a suspension or a rescue
			// moves its transition_seq on): a code-first driver here has
			// recorded nothing yet, so its history need not be read.
			sc.firstRun = c.Task
		}
		return h.Handle(sc)
	})
	result, err := res.Value, attemptErr(res)
	if sc != nil && len(sc.records) > 0 {
		// A code-first driver's last durable steps: committed with its
		// outcome, or now when there is none to commit (the records are
		// fenced by the lease, so a lost one writes nothing).
		o.Records = sc.records
		defer func() {
			if o.Records != nil && (o.Release || !ok) {
				e.recordHeld(context.WithoutCancel(ctx), o.Records)
				o.Records = nil
			}
		}()
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errTaskCancelled), errors.Is(cause, errLeaseLost):
		if errors.Is(cause, errLeaseLost) {
			// The counters are a sign of lease trouble (see Stats); a
			// cancelled task's attempt is only abandoned.
			e.stat.discarded.Add(1)
			e.met.resultDiscarded()
		}
		log.Info("attempt abandoned", zap.Error(cause))
		e.emit(Event{Name: EventStepDiscarded, TaskID: st.TaskID, Step: st.Name, Attempt: st.Attempts, Error: cause.Error()})
		return o, false
	case errors.Is(cause, errShutdown) && err != nil:
		// Interrupted by shutdown: not the step's fault. A success is
		// still recorded (the lease fences it).
		o.Release = true
		return o, true
	}
	if s, ok := asSuspend(err); ok { // a code-first workflow waits
		o.Kind, o.RetryAfter, o.WakeOnEvents, o.WakeOnTasks, o.Metadata = store.OutcomeSuspend, s.after, s.events, s.tasks, s.metadata()
		return o, true
	}
	if sk, ok := asSkip(err); ok {
		if strings.HasPrefix(st.Handler, WorkflowHandlerPrefix) {
			err = Permanent(fmt.Errorf("the workflow function returned engine.Skip (%s): %s; return the workflow's result", sk.Reason, skipIsForDAG))
		} else if !st.Skippable {
			err = Permanent(fmt.Errorf("step %s returned engine.Skip (%s) but is not skippable: set Skippable on its template step", st.Name, sk.Reason))
		} else {
			o.Kind, o.Results = store.OutcomeComplete, store.JSON("null") // no result, told apart from {}
			o.Metadata = store.MustJSON(map[string]any{"skipped": true, "reason": sk.Reason})
			return o, true
		}
	}
	pause := e.systemResult(ctx, policy.DependentSystem, probe, err)
	probe = cachex.Probe{} // counted, or given back
	if err == nil {
		doc, merr := marshalResult(result) // (a panicking MarshalJSON is the result's failure)
		if merr == nil {
			merr = nulInResult(doc)
		}
		if merr == nil && e.codec != nil {
			doc, merr = e.encode(doc) // the completer bounds what is stored
		}
		if merr != nil {
			err = Permanent(fmt.Errorf("encoding result of step %s: %w", st.Name, merr))
		} else {
			o.Kind, o.Results = store.OutcomeComplete, doc
			return o, true
		}
	}
	if res.TimedOut {
		err = attemptTimedOut(st.Name, timeout, err)
	}
	a := attemptInfo{workflow: workflowOfTask(c.Task), step: st.Name, attempt: st.Attempts, limit: st.RetryLimit, retryable: st.Retryable}
	if dl := policy.Deadline; !dl.IsZero() && !e.clk.Now().Before(dl) {
		err = workflowTimeout(st.TaskID, dl)
	}
	o.Kind, o.RetryAfter, o.Error = e.classify(ctx, a, policy, err)
	o.RetryAfter = max(o.RetryAfter, pause) // never before the system's pause ends
	if dl := policy.Deadline; o.Kind == store.OutcomeRetry && !dl.IsZero() && !e.clk.Now().Add(o.RetryAfter).Before(dl) {
		// The retry would come after the task's deadline: fail now.
		o.Kind, o.RetryAfter, o.Error = e.classify(ctx, a, policy, workflowTimeout(st.TaskID, dl))
	}
	return o, true
}

// skipIsForDAG is why engine.Skip in a code-first workflow is refused.
const skipIsForDAG = "Skip ends a skippable DAG step, and a code-first workflow has no step to skip"

// stepKey is a DAG step's idempotency key: stable across its attempts.
func stepKey(taskID int64, step string) string { return strconv.FormatInt(taskID, 10) + ":" + step }

// noHandlerError is the failure of a step claimed by a worker that has no
// handler of its name: the worker's, not the system's the step calls.
type noHandlerError struct{ handler string }

func (e *noHandlerError) Error() string {
	return fmt.Sprintf("no handler %q is registered in this process", e.handler)
}

// attemptTimedOut is the failure of an attempt past its own timeout:
// retryable, with the settings of the RetryableError the handler returned,
// if it did (RetryAfter, MaxRetries, Context). Classification reads the
// outermost RetryableError, so a bare wrapper hid them: the handler's cap
// was ignored and its context lost.
func attemptTimedOut(step string, timeout time.Duration, err error) error {
	te := &RetryableError{Err: fmt.Errorf("step %s timed out after %s: %w: %w", step, timeout, errAttemptTimeout, err)}
	if re := (*RetryableError)(nil); errors.As(err, &re) {
		te.RetryAfter, te.MaxRetries, te.Context = re.RetryAfter, re.MaxRetries, re.Context
	}
	return te
}

// workflowTimeout is the failure of a task past its WithWorkflowTimeout.
func workflowTimeout(taskID int64, deadline time.Time) error {
	return Permanent(fmt.Errorf("task %d: %w (deadline %s)", taskID, ErrWorkflowTimeout, deadline.Format(time.RFC3339Nano)))
}

// attemptErr is an attempt's error, a panic turned into a PanicError.
func attemptErr[T any](r attempt.Result[T]) error {
	if r.Panic != nil {
		if nc, ok := r.Panic.Value.(*nilContextError); ok { // a mistake, not a bug to retry
			return Permanent(nc)
		}
		return &PanicError{Value: r.Panic.Value, Stack: r.Panic.Stack}
	}
	if r.Err == nil {
		return nil
	}
	if v := reflect.ValueOf(r.Err); v.Kind() == reflect.Pointer && v.IsNil() {
		// A function declared to return *MyError returned its nil: not a
		// nil error, and its Error method, called on the nil pointer to
		// record the failure, panicked outside any recover (a workflow
		// function's return crashed the process).
		return Permanent(fmt.Errorf("the function returned a nil %T as its error: a non-nil error holding a nil pointer (a typed nil); return a plain nil for a success", r.Err))
	}
	if p := errorTextPanics(r.Err); p != nil {
		// Recording the failure calls Error, outside any recover.
		return Permanent(fmt.Errorf("the function returned a %T whose Error method panicked: %v", r.Err, p))
	}
	if p := errorChainPanics(r.Err); p != nil {
		// Classifying the failure walks its chain (errors.As, errors.Is),
		// outside any recover too.
		return Permanent(fmt.Errorf("the function returned a %T whose Unwrap, Is or As method panicked: %v", r.Err, p))
	}
	return r.Err
}

// errorChainPanics walks err's whole chain as classifying it does, calling
// every Unwrap, Is and As method in it, and returns what one panicked with
// (nil when none did).
func errorChainPanics(err error) (p any) {
	defer func() { p = recover() }()
	var probe *chainProbe
	_ = errors.As(err, &probe) // (matches nothing: every link is asked)
	_ = errors.Is(err, errChainProbe)
	return nil
}

// chainProbe and errChainProbe are targets no error of a handler's
// matches, so errorChainPanics' walks visit every link.
type chainProbe struct{}

func (*chainProbe) Error() string { return "chain probe" }

var errChainProbe = errors.New("chain probe")

// errorTextPanics calls err.Error and returns what it panicked with (nil
// when it did not).
func errorTextPanics(err error) (p any) {
	defer func() { p = recover() }()
	_ = err.Error()
	return nil
}

// attemptInfo is what classify needs to know about the attempt.
type attemptInfo struct {
	// workflow is the task's "namespace/name" ("": unknown), whose steps
	// alone make the predictive retry's history.
	workflow  string
	step      string
	sequence  int // durable steps
	attempt   int
	limit     int // total attempts allowed
	retryable bool
}

// workflowOfTask is t's "namespace/name", "" without a task.
func workflowOfTask(t *store.Task) string {
	if t == nil {
		return ""
	}
	return workflowOf(t.Namespace, t.Name)
}

// classify turns a handler error into the store's outcome: permanent
// errors fail at once; retryable ones wait the policy's backoff, or
// exactly the delay they asked for, and honour their own retry cap. The
// last allowed attempt's failure is recorded as retries_exhausted.
//
// Every failure is diagnosed (Diagnosis); a retry of a step under the
// predictive retry has its delay weighed (BackoffDecision) unless the
// error asked for its own.
func (e *Engine) classify(ctx context.Context, a attemptInfo, policy stepPolicy, err error) (store.OutcomeKind, time.Duration, store.JSON) {
	f := failureOf(a.step, a.attempt, err)
	if a.sequence > 0 && f.Sequence == 0 {
		f.Sequence = a.sequence
	}
	kind := store.OutcomeRetry
	if f.permanent() {
		kind = store.OutcomeFail
	} else if a.limit > 0 && a.attempt >= a.limit || !a.retryable && a.attempt >= 1 {
		f.Kind = KindExhausted
	}
	// What the step's backoff leaves unset is the engine's: each delay
	// field on its own, and the engine's NoJitter when the step sets no
	// delay at all.
	bp := policy.Backoff
	if bp.Base == 0 && bp.Max == 0 {
		bp.NoJitter = bp.NoJitter || e.cfg.Retry.NoJitter
	}
	bp.Base, bp.Max = cmp.Or(bp.Base, e.cfg.Retry.Base), cmp.Or(bp.Max, e.cfg.Retry.Max)
	delay := bp.Next(a.attempt, f.requested)
	class := errclass.Of(err)
	if f.Kind == KindTimeout {
		class = errclass.Timeout
	}
	// A durable step's failure the workflow returned is the task's as the
	// step recorded it, diagnosis included: diagnosed again here it would
	// speak of the workflow driver's attempts (1 of 10), not the step's.
	if sf := (*StepFailedError)(nil); f.Diagnosis == nil || !errors.As(err, &sf) {
		f.Diagnosis = e.diagnoseFailure(&f, a, policy, err, class)
	}
	if kind == store.OutcomeRetry && f.Kind != KindExhausted && f.requested == 0 && e.predictive(ctx, policy) {
		f.decision = e.predictDelay(ctx, a, delay, class)
		delay = f.decision.Final()
	}
	return kind, delay, f.doc()
}

// measured is execute, traced, and timed for the metrics when they are on.
func (e *Engine) measured(base context.Context, c *store.ClaimedStep) (completer.Outcome, bool) {
	ctx, span := e.traceAttempt(base, c)
	if e.met == nil {
		o, ok := e.execute(ctx, c)
		endAttempt(span, &o, ok)
		return o, ok
	}
	start := time.Now()
	o, ok := e.execute(ctx, c)
	e.met.stepAttempt(c, &o, ok, time.Since(start))
	endAttempt(span, &o, ok)
	return o, ok
}

// storeSkew is the store's clock minus the engine's, as measured on the
// claims so far, this one included (see skew.Estimate and
// StepContext.storeSkew): zero when the engine tells the store its time
// (a fake clock), or when the step carries no lease expiry.
func (e *Engine) storeSkew(st *store.Step) time.Duration {
	if st.LeaseExpiresAt == nil || !e.clk.StoreNow().IsZero() {
		return 0
	}
	now := e.clk.Now()
	return e.skew.Observe(now, st.LeaseExpiresAt.Sub(now)-e.cfg.Execution.LeaseTTL)
}
