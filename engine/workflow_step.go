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
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine/internal/attempt"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
)

// StepOption adjusts one durable step. An option given twice with
// different values (WithStepTimeout(time.Second) then
// WithStepTimeout(time.Minute)) fails the workflow, naming it and both
// values, as a start's option does; the same value twice is accepted.
type StepOption func(*stepOptions)

type stepOptions struct {
	limit      int
	limitSet   bool
	noRetry    bool
	backoff    retry.Policy
	timeout    time.Duration
	timeoutSet bool
	dependent  string
	// dependentSet: WithStepDependentSystem was given (a name of "" is
	// refused there, where the template's empty field means none).
	dependentSet bool
	backoffSet   bool
	// twice: options given again with another value, refused by check as
	// a start's are (givenTwice): the later value would win without a word.
	twice []string
}

// givenTwice records option given again with another value (was, then now).
func (o *stepOptions) givenTwice(option, was, now string) {
	o.twice = append(o.twice, fmt.Sprintf("%s given twice, with %s and %s: give one", option, was, now))
}

// check refuses options that cannot mean what they say. fresh: the step
// has no record yet; one recorded before with a dependent system with
// spaces around it (taken then) goes on with it.
func (o *stepOptions) check(fresh bool) error {
	var errs []error
	for _, msg := range o.twice {
		errs = append(errs, errors.New(msg))
	}
	if o.limitSet && o.limit < 1 {
		errs = append(errs, fmt.Errorf("WithStepRetryLimit(%d): a step makes at least 1 attempt", o.limit))
	}
	if o.limit > store.MaxCount {
		errs = append(errs, fmt.Errorf("WithStepRetryLimit(%d): a step makes at most %d attempts", o.limit, store.MaxCount))
	}
	if o.noRetry && o.limitSet && o.limit > 1 {
		errs = append(errs, fmt.Errorf("WithStepNoRetry with WithStepRetryLimit(%d): a step that is not retried makes 1 attempt", o.limit))
	}
	if o.timeoutSet && o.timeout < time.Millisecond {
		errs = append(errs, fmt.Errorf("WithStepTimeout(%s): must be at least 1ms (a bare number is nanoseconds)", o.timeout))
	}
	if err := validateStepBackoff(o.backoff); err != nil {
		errs = append(errs, fmt.Errorf("WithStepBackoff: %w", err))
	}
	if o.backoff != (retry.Policy{}) && (o.noRetry || o.limitSet && o.limit == 1) {
		errs = append(errs, errors.New("WithStepBackoff on a step that makes 1 attempt (WithStepNoRetry or WithStepRetryLimit(1)): there is no retry to wait for"))
	}
	if o.dependentSet && o.dependent == "" {
		errs = append(errs, errors.New(`WithStepDependentSystem(""): name the system the step calls, or leave the option out`))
	} else if msg := systemNameProblem(o.dependent); msg != "" {
		if !fresh {
			msg = systemStoreProblem(o.dependent)
		}
		if msg != "" {
			errs = append(errs, fmt.Errorf("WithStepDependentSystem: %s", msg))
		}
	}
	return errors.Join(errs...)
}

// WithStepRetryLimit sets the step's total attempts (default 3; at least 1,
// at most store.MaxCount).
func WithStepRetryLimit(n int) StepOption {
	return func(o *stepOptions) {
		if o.limitSet && o.limit != n {
			o.givenTwice("WithStepRetryLimit", strconv.Itoa(o.limit), strconv.Itoa(n))
		}
		o.limit, o.limitSet = n, true
	}
}

// WithStepNoRetry makes the step run once: a failure returns a
// *StepFailedError at once.
func WithStepNoRetry() StepOption { return func(o *stepOptions) { o.noRetry = true } }

// WithStepBackoff sets the step's backoff between attempts (default: the
// engine's Retry policy, which also gives Base or Max when p sets only
// the other). With WithStepNoRetry or WithStepRetryLimit(1),
// where there is no retry to wait for, it fails the workflow, and so does
// a Base above the engine's Config.Retry.Max without a Max of p's own
// (every delay would be capped at that max).
func WithStepBackoff(p retry.Policy) StepOption {
	return func(o *stepOptions) {
		if o.backoffSet && o.backoff != p {
			o.givenTwice("WithStepBackoff", fmt.Sprintf("%+v", o.backoff), fmt.Sprintf("%+v", p))
		}
		o.backoff, o.backoffSet = p, true
	}
}

// WithStepTimeout bounds one attempt (at least 1ms); an attempt that times
// out is retried.
func WithStepTimeout(d time.Duration) StepOption {
	return func(o *stepOptions) {
		if o.timeoutSet && o.timeout != d {
			o.givenTwice("WithStepTimeout", o.timeout.String(), d.String())
		}
		o.timeout, o.timeoutSet = d, true
	}
}

// WithStepDependentSystem names the external system the step calls (UTF-8,
// no NUL byte, not empty, no spaces around it), as StepTemplate.DependentSystem does a DAG
// step's, and the step shares that system's back-off with every step, DAG
// or durable, that names it. While the system is paused (a step calling
// it returned a RetryableError with a RetryAfter: a 429, say) or its
// circuit breaker (Config.Breaker) is open, the step is held back before
// each attempt, the wait using no attempt: a hold of up to 100 ms is
// waited out in the running workflow, a longer one suspends the workflow
// until it ends (Explain reports ExplainSystemPaused). Each attempt's
// outcome feeds the breaker, but for a PermanentError (a bad request), a
// panic (a bug of this binary) and a step no handler here serves, which
// say nothing of the system; a RetryAfter pauses the system, and the
// step's retry never comes before a pause ends. The back-off is this
// process's, or every process's sharing Config.Cache's distributed
// backend.
//
// A template's RateLimits do not apply to a durable step: a rate limit's
// token is taken when the store claims a DAG step, and a durable step is
// never claimed on its own (it runs inside its workflow's driver).
func WithStepDependentSystem(name string) StepOption {
	return func(o *stepOptions) {
		if o.dependentSet && o.dependent != name {
			o.givenTwice("WithStepDependentSystem", quoteName(o.dependent), quoteName(name))
		}
		o.dependent, o.dependentSet = name, true
	}
}

// StepInfo describes the durable step attempt a function runs in.
type StepInfo struct {
	TaskID   int64
	Sequence int
	Name     string
	Attempt  int // 1 on the first run
	// IdempotencyKey is stable across attempts, runs and processes
	// ("task:sequence:name"): pass it to the systems the step calls.
	IdempotencyKey string
}

type stepInfoKey struct{}

// StepInfoFrom returns the durable step a context belongs to.
func StepInfoFrom(ctx context.Context) (StepInfo, bool) {
	i, ok := ctx.Value(stepInfoKey{}).(StepInfo)
	return i, ok
}

// Step runs fn as durable step name, or returns its recorded result. The
// result is returned as decoded from its stored JSON, the same on the first
// run and on every replay. fn's context is cancelled when the task is
// cancelled; StepInfoFrom(ctx) gives its idempotency key. A failure is
// retried under the step's policy (the workflow suspends for the backoff);
// a PermanentError or exhausted attempts return a *StepFailedError
// (errors.Is ErrStepFailed), which the workflow may handle — compensate,
// say — or return, failing the workflow. A nil fn, a name the store would
// refuse (empty, over 243 bytes, with a NUL byte) or with spaces around it
// (a step recorded with one before replays as it was), a result type JSON
// cannot carry (a func, a channel, or one in a field or element) and options that cannot apply fail the
// workflow before anything runs; a durable operation called
// inside fn (Step within Step) fails it at that call.
func Step[T any](wctx *WorkflowContext, name string, fn func(ctx context.Context) (T, error), opts ...StepOption) (T, error) {
	mustContext(wctx, "engine.Step")
	var zero T
	seq, rec, err := wctx.begin(name, kindStep)
	if err != nil {
		return zero, err
	}
	wctx.mu.Lock()
	wctx.inStep = name
	wctx.mu.Unlock()
	defer func() {
		wctx.mu.Lock()
		wctx.inStep = ""
		wctx.mu.Unlock()
	}()
	return runStep(wctx, seq, rec, name, fn, opts)
}

func runStep[T any](wctx *WorkflowContext, seq int, rec *store.Step, name string, fn func(ctx context.Context) (T, error), opts []StepOption) (T, error) {
	var zero T
	if rec != nil && rec.State.Satisfied() {
		return decodeAs[T](wctx, seq, "recorded result of step "+name, rec.Results)
	}
	if fn == nil {
		return zero, wctx.failWith(Permanent(fmt.Errorf("durable step %s: the function is nil", name)))
	}
	if msg := unencodable(reflect.TypeFor[T]()); msg != "" { // its result could not be recorded
		return zero, wctx.failWith(Permanent(fmt.Errorf("durable step %s: its result type %s", name, msg)))
	}
	if msg := durableNameProblem(name, rec == nil); msg != "" {
		return zero, wctx.failWith(Permanent(errors.New(msg)))
	}
	var o stepOptions
	for i, opt := range opts {
		if opt == nil {
			return zero, wctx.failWith(Permanent(fmt.Errorf("durable step %s: option %d is nil", name, i)))
		}
		opt(&o)
	}
	if err := o.check(rec == nil); err != nil {
		return zero, wctx.failWith(Permanent(fmt.Errorf("durable step %s: %w", name, err)))
	}
	if msg := backoffCapped(o.backoff, wctx.e.cfg.Retry); msg != "" {
		return zero, wctx.failWith(Permanent(fmt.Errorf("durable step %s: WithStepBackoff: %s", name, msg)))
	}
	limit := o.limit
	if limit <= 0 {
		limit = store.DefaultRetryLimit
	}
	if o.noRetry {
		limit = 1
	}
	policy := stepPolicy{Backoff: o.backoff, Timeout: o.timeout, DependentSystem: o.dependent}
	attemptN := 1
	if rec != nil {
		if rec.State == store.StepError {
			return zero, stepFailed(seq, name, rec)
		}
		if now := wctx.now(); now.Before(rec.NextAttemptAt) {
			return zero, wctx.suspend(rec.NextAttemptAt, "retry of "+name)
		}
		attemptN = rec.Attempts + 1
	}
	for {
		probe, err := holdForSystem(wctx, name, o.dependent)
		if err != nil {
			return zero, err
		}
		v, retryAt, backoff, err := attemptStep(wctx, seq, name, fn, &o, limit, policy, attemptN, rec == nil, probe)
		if retryAt == nil {
			return v, err
		}
		// A short backoff is waited out here, under the driver's lease,
		// instead of suspending the workflow: no finish, claim and replay
		// of the driver for a retry due in a few milliseconds. The failure
		// is recorded, so a crash meanwhile still retries it elsewhere.
		// The wait is the backoff itself, counted from the record's
		// return: the store's clock has moved on at least as far since it
		// wrote the due time, whatever our clock reads (an estimate of the
		// skew made the wait hundreds of milliseconds longer on a loaded
		// machine, and the workflow suspended).
		wait := backoff
		if wait > inlineRetryMax || wctx.Context.Value(stepwiseKey{}) != nil {
			return zero, wctx.suspend(retryAt.NextAttemptAt, "retry of "+name)
		}
		if wait > 0 {
			select {
			case <-wctx.e.clk.After(wait):
			case <-wctx.Context.Done():
				return zero, wctx.abortWith(context.Cause(wctx.Context))
			}
		}
		rec, attemptN = retryAt, retryAt.Attempts+1
	}
}

// inlineRetryMax is the longest backoff (or system hold) a durable step
// waits out inside its running workflow; a longer one suspends the
// workflow until it ends.
const inlineRetryMax = 100 * time.Millisecond

// holdForSystem holds durable step name back while the system it calls is
// paused or its breaker open, as Engine.execute holds a DAG step, no
// attempt used: a short hold is waited out here, as a short backoff is,
// and a longer one suspends the workflow until it ends. It returns the
// half-open breaker's probe the step took, if any (see Engine.systemHold).
func holdForSystem(wctx *WorkflowContext, name, system string) (cachex.Probe, error) {
	for {
		wait, probe, held := wctx.e.systemHold(wctx.Context, system)
		if !held {
			return probe, nil
		}
		wait = max(wait, 0)
		wctx.Logger.Debug("dependent system held back; durable step waits", zap.String("step", name), zap.String("system", system), zap.Duration("wait", wait))
		if wait > inlineRetryMax || wctx.Context.Value(stepwiseKey{}) != nil {
			return cachex.Probe{}, wctx.suspendOn(wctx.now().Add(wait), "dependent system of "+name, system)
		}
		select {
		case <-wctx.e.clk.After(wait):
		case <-wctx.Context.Done():
			return cachex.Probe{}, wctx.abortWith(context.Cause(wctx.Context))
		}
	}
}

// attemptStep runs one attempt of a durable step and records it; fresh
// says the step has no row yet. A failure to retry returns the step's row
// (again) and its backoff, and no error: the caller waits or suspends.
// probe is the half-open breaker's probe the step took (holdForSystem):
// the outcome is told to the breaker, or the probe given back.
func attemptStep[T any](wctx *WorkflowContext, seq int, name string, fn func(ctx context.Context) (T, error), o *stepOptions, limit int, policy stepPolicy, attemptN int, fresh bool, probe cachex.Probe) (_ T, again *store.Step, backoff time.Duration, _ error) {
	var zero T
	info := StepInfo{TaskID: wctx.TaskID, Sequence: seq, Name: name, Attempt: attemptN, IdempotencyKey: fmt.Sprintf("%d:%d:%s", wctx.TaskID, seq, name)}
	ctx, span := wctx.traceStep(name, seq, attemptN)
	traced := durableOutcome{outcome: "abandoned"}
	defer func() { endDurable(span, &traced) }()
	ctx = context.WithValue(ctx, stepInfoKey{}, info)
	timeout := cmp.Or(o.timeout, wctx.e.cfg.Execution.DefaultTimeout)
	began, startedAt := time.Now(), wctx.e.clk.Now()
	res := attempt.Run(ctx, timeout, fn)
	took := time.Since(began)
	ran := max(wctx.e.clk.Now().Sub(startedAt), 0) // by the engine's clock, as the record's times
	result, err := res.Value, attemptErr(res)
	if sk, ok := asSkip(err); ok {
		// Taken for any error, it was retried to the step's limit.
		err = Permanent(fmt.Errorf("durable step %s returned engine.Skip (%s): %s; return a result the workflow checks, and let it take another path", name, sk.Reason, skipIsForDAG))
	}
	if cause := context.Cause(wctx.Context); cause != nil && err != nil {
		// Cancelled, lease lost, shutting down or past the workflow's
		// deadline: a failure is not the step's fault, so nothing is
		// recorded (the deadline fails the task) and the step runs again if
		// the workflow resumes. (A success is still recorded while the
		// lease holds.) Shutdown interrupts it, as it does a DAG step's
		// attempt (outcomeLabel); the others abandon it.
		traced.outcome = "abandoned"
		if errors.Is(cause, errShutdown) {
			traced.outcome = "interrupted"
		}
		wctx.measure(name, traced.outcome, took)
		if errors.Is(cause, errTaskCancelled) || errors.Is(cause, errLeaseLost) || errors.Is(cause, errShutdown) {
			probe.Release() // (the breaker learns nothing of an abandoned attempt)
		} else {
			// Stopped by its workflow's deadline: the system did not
			// answer in time, and its breaker counts it as it counts a
			// DAG step's attempt stopped so (Engine.execute).
			wctx.e.systemResult(wctx.Context, o.dependent, probe, err)
		}
		return zero, nil, 0, wctx.abortWith(cause)
	}
	// The outcome feeds the system's breaker, and a RetryAfter pauses it
	// (see Engine.systemResult), as a DAG step's attempt does.
	pause := wctx.e.systemResult(wctx.Context, o.dependent, probe, err)
	policyDoc, _ := json.Marshal(policy)
	// Every attempt, completed or failed, is recorded grouped with other
	// drivers' (Engine.recordGrouped): a retried step costs no
	// transaction of its own, as a DAG step's retry costs none.
	p := store.RecordStepParams{Sequence: seq, Name: name, Handler: kindStep, Policy: policyDoc, Retryable: !o.noRetry, RetryLimit: limit, Attempt: attemptN, Ran: ran}
	var doc []byte
	if err == nil {
		var merr error
		if doc, merr = marshalResult(result); merr == nil {
			merr = nulInResult(doc)
		}
		if merr != nil {
			err = Permanent(fmt.Errorf("encoding result of step %s: %w", name, merr))
		} else if perr := wctx.e.checkPayload("result of durable step "+name, len(doc)); perr != nil {
			err = &resultTooLarge{perr}
		}
	}
	if err == nil {
		p.Kind, p.Results = store.OutcomeComplete, doc
		if rerr := wctx.recordCompleted(p, fresh); rerr != nil {
			var tl *resultTooLarge // over the limit once encoded (Config.Codec)
			if !errors.As(rerr, &tl) {
				return zero, nil, 0, rerr
			}
			err, p.Results = rerr, nil
		}
	}
	if err == nil {
		wctx.e.stat.completed.Add(1)
		wctx.measure(name, "complete", took)
		traced.outcome = "complete"
		v, err := decodeAs[T](wctx, seq, "recorded result of step "+name, doc)
		return v, nil, 0, err
	}
	if res.TimedOut {
		err = attemptTimedOut(name, timeout, err)
	}
	kind, delay, errDoc := wctx.e.classify(wctx, attemptInfo{workflow: wctx.Workflow, step: name, sequence: seq, attempt: attemptN, limit: limit, retryable: !o.noRetry}, policy, err)
	delay = max(delay, pause) // never before the system's pause ends
	p.Kind, p.RetryAfter, p.Error = kind, delay, errDoc
	st, rerr := wctx.recordAttempt(p)
	if rerr != nil {
		return zero, nil, 0, rerr
	}
	wctx.Logger.Info("durable step failed", zap.String("step", name), zap.Int("sequence", seq), zap.Int("attempt", attemptN), zap.Error(err))
	outcome := "error"
	if kind == store.OutcomeFail {
		outcome = "permanent"
	}
	wctx.measure(name, outcome, took)
	traced = durableOutcome{outcome: outcome, err: errDoc}
	if st.State == store.StepPending {
		wctx.e.stat.retried.Add(1)
		wctx.e.met.retried(wctx.workflowLabel())
		return zero, st, delay, nil
	}
	wctx.e.stat.failed.Add(1)
	return zero, nil, 0, stepFailed(seq, name, st)
}

// marshalResult is json.Marshal with a panic of a MarshalJSON method turned
// into an error, a failure of the step whose result it is: the panic
// failed a durable step's driver run, which ran the step again, and from a
// handler's or a workflow function's result (Engine.execute) it crashed
// the process.
func marshalResult(v any) (doc []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("its MarshalJSON panicked: %v", r)
		}
	}()
	return json.Marshal(v)
}

// stepFailed is the error a durable step that failed for good returns, built
// from its recorded row so that a replay returns the same.
func stepFailed(seq int, name string, rec *store.Step) *StepFailedError {
	f := decodeFailure(rec.LastError)
	if f == nil {
		f = &StepError{Step: name, Sequence: seq, Attempt: rec.Attempts, Kind: KindError}
	}
	return &StepFailedError{Sequence: seq, Step: name, Attempts: rec.Attempts, Failure: f}
}

// decodeAs decodes a durable operation's recorded document as a T; what
// names the document ("result of step charge", "payload of event
// \"approval\""), so that a failure names the operation the code called,
// not a step it does not have.
func decodeAs[T any](wctx *WorkflowContext, seq int, what string, doc []byte) (T, error) {
	var v T
	if len(doc) == 0 {
		return v, nil
	}
	if wctx.e.codec != nil { // an event's payload is recorded as sent
		var err error
		if doc, err = wctx.e.decode(doc); err != nil {
			return v, wctx.failWith(Permanent(fmt.Errorf("%s (sequence %d): %w", what, seq, err)))
		}
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return v, wctx.failWith(Permanent(fmt.Errorf("decoding the %s (sequence %d) as %s: %w", what, seq, reflect.TypeFor[T](), err)))
	}
	return v, nil
}

// Future is the result of a durable step started with Go.
type Future[T any] struct {
	done chan struct{}
	val  T
	err  error
	name string
	read atomic.Bool // Get (All) was called, or OnFuture: see warnUnread
}

// unreadFailure is the failure of a finished future nobody read ("" when
// it succeeded, was read, or is not finished).
func (f *Future[T]) unreadFailure() (string, error) {
	select {
	case <-f.done:
	default:
		return "", nil
	}
	if f.read.Load() || !errors.Is(f.err, ErrStepFailed) {
		return "", nil
	}
	return f.name, f.err
}

// Get waits for the step and returns its result. A nil future returns a
// permanent error (a slice of futures with a hole, say), which fails the
// workflow when returned.
func (f *Future[T]) Get() (T, error) {
	if f == nil {
		var zero T
		return zero, Permanent(errors.New("Future.Get: the future is nil: a Future comes from engine.Go"))
	}
	f.read.Store(true)
	<-f.done
	return f.val, f.err
}

// Go starts durable step name concurrently with the workflow and returns
// its future. Its sequence number is taken now, so futures are numbered in
// call order whatever order they finish in; a recorded one resolves at once.
// fn, like Step's, does its work with the ctx it is given: a durable
// operation called inside it while the workflow is inside another (a
// step's function runs, or Select waits for futures) fails the workflow
// at that call; one called while the workflow waits in Future.Get or All
// cannot be told from the workflow's own, and a later run, which returns
// the future's record without calling fn, fails as not deterministic.
// A workflow that returns waits for its futures; one that failed for good
// and was never read (Get, All, OnFuture) does not fail the workflow, but
// the worker logs a warning naming its step.
func Go[T any](wctx *WorkflowContext, name string, fn func(ctx context.Context) (T, error), opts ...StepOption) *Future[T] {
	mustContext(wctx, "engine.Go")
	f := &Future[T]{done: make(chan struct{}), name: name}
	wctx.mu.Lock()
	wctx.started = append(wctx.started, f)
	wctx.mu.Unlock()
	seq, rec, err := wctx.begin(name, kindStep)
	if err != nil || (rec != nil && rec.State.Satisfied()) {
		if err == nil {
			f.val, f.err = decodeAs[T](wctx, seq, "recorded result of step "+name, rec.Results)
		} else {
			f.err = err
		}
		close(f.done)
		return f
	}
	wctx.wg.Add(1)
	wctx.futures.Add(1)
	go func() {
		defer wctx.wg.Done()
		defer close(f.done)
		defer wctx.futures.Add(-1)
		f.val, f.err = runStep(wctx, seq, rec, name, fn, opts)
	}()
	return f
}

// All waits for every future and returns their results in order, or the
// first error (after all have finished). A nil future is an error naming
// its index (permanent: returned, it fails the workflow).
func All[T any](futures ...*Future[T]) ([]T, error) {
	out := make([]T, len(futures))
	var first error
	for i, f := range futures {
		if f == nil {
			if first == nil {
				first = Permanent(fmt.Errorf("engine.All: future %d (counting from 0) is nil: a Future comes from engine.Go", i))
			}
			continue
		}
		v, err := f.Get()
		out[i] = v
		if err != nil && first == nil {
			first = err
		}
	}
	return out, first
}

// workflowLabel is the workflow's namespace and name.
func (wctx *WorkflowContext) workflowLabel() (ns, name string) {
	ns, name, _ = strings.Cut(wctx.Workflow, "/")
	return ns, name
}

// measure observes a durable step's attempt in the metrics, if on.
func (wctx *WorkflowContext) measure(step, outcome string, d time.Duration) {
	if m := wctx.e.met; m != nil {
		ns, name := wctx.workflowLabel()
		m.durableAttempt(ns, name, step, outcome, d)
	}
}
