package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"go.uber.org/zap"

	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
)

// Code-first workflows.
//
// A code-first task has one driver step (named "workflow", handler
// "workflow:<namespace/name>") that workers claim like any step. Each run of
// the driver loads the task's recorded durable steps and calls the workflow
// function from the top: durable operations (Step, Go, Sleep, WaitEvent)
// take sequence numbers in call order; a recorded one returns its stored
// result at once, a new one executes and is recorded under (task, sequence)
// in one transaction fenced on the driver's lease. A wait (a sleep, an event,
// a step's retry backoff) suspends the driver: it goes back to pending until
// the wake-up time without counting an attempt, and the worker is free.

const (
	// DriverStep is the name of a code-first task's driver step; its result
	// is the workflow's return value.
	DriverStep = "workflow"
	// WorkflowHandlerPrefix prefixes the driver's handler name.
	WorkflowHandlerPrefix = "workflow:"

	kindStep  = "workflow.step"
	kindSleep = "workflow.sleep"
	kindEvent = "workflow.event"

	// EventStepSuspended: a workflow's driver suspended (sleep, event wait,
	// a durable step's retry backoff).
	EventStepSuspended = "step.suspended"

	defaultDriverRetryLimit = 10
)

// Errors of code-first workflows.
var (
	// ErrNonDeterministic: replaying a workflow reached a durable operation
	// whose name or kind differs from the recorded history (see
	// NonDeterminismError). The workflow fails; it is never retried.
	ErrNonDeterministic = errors.New("tasker: non-deterministic workflow")
	// ErrSuspended is returned by durable operations once this run of the
	// workflow must stop (it waits for a timer, an event or a retry).
	// Return it (or any error) from the workflow function: the engine
	// resumes the workflow later from the top. Durable operations called
	// after it return it again without doing anything.
	ErrSuspended = errors.New("tasker: workflow suspended")
	// ErrEventTimeout: WaitEvent's timeout passed without the event (see
	// EventTimeoutError). The timeout is recorded: a replay returns it again.
	ErrEventTimeout = errors.New("tasker: event wait timed out")
	// ErrWorkflowTimeout: the workflow did not finish within the timeout
	// given at start (WithWorkflowTimeout).
	ErrWorkflowTimeout = errors.New("tasker: workflow timed out")
	// ErrUnknownWorkflow: StartWorkflow named a workflow never registered.
	ErrUnknownWorkflow = errors.New("tasker: unknown workflow")
	// ErrStepFailed: a durable step failed for good (permanent error or
	// attempts exhausted); the workflow fails with it.
	ErrStepFailed = errors.New("tasker: durable step failed")
	// errReplayEnd stops a replay at the end of the recorded history.
	errReplayEnd = errors.New("tasker: end of recorded history")
)

// NonDeterminismError names where a replay left the recorded history.
type NonDeterminismError struct {
	TaskID   int64
	Sequence int
	Recorded string // the recorded operation at Sequence ("" when none)
	New      string // what the code does now ("" when it ended earlier)
}

func (e *NonDeterminismError) Error() string {
	switch {
	case e.New == "":
		return fmt.Sprintf("workflow task %d is not deterministic: the code returned before sequence %d, where the history records %s", e.TaskID, e.Sequence, e.Recorded)
	default:
		return fmt.Sprintf("workflow task %d is not deterministic: sequence %d is %s in the recorded history but the code now calls %s", e.TaskID, e.Sequence, e.Recorded, e.New)
	}
}

// Is makes errors.Is(err, ErrNonDeterministic) true.
func (e *NonDeterminismError) Is(target error) bool { return target == ErrNonDeterministic }

// EventTimeoutError is WaitEvent's timeout.
type EventTimeoutError struct {
	Event   string
	Timeout time.Duration
}

func (e *EventTimeoutError) Error() string {
	return fmt.Sprintf("event %q did not arrive within %s", e.Event, e.Timeout)
}

// Is makes errors.Is(err, ErrEventTimeout) true.
func (e *EventTimeoutError) Is(target error) bool { return target == ErrEventTimeout }

// StepFailedError is a durable step that failed for good.
type StepFailedError struct {
	Sequence int
	Step     string
	Attempts int
	Err      error
}

func (e *StepFailedError) Error() string {
	return fmt.Sprintf("durable step %s (sequence %d) failed after %d attempts: %v", e.Step, e.Sequence, e.Attempts, e.Err)
}

// Unwrap returns the step's error.
func (e *StepFailedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrStepFailed) true.
func (e *StepFailedError) Is(target error) bool { return target == ErrStepFailed }

// WorkflowError is a workflow that ended without a result.
type WorkflowError struct {
	TaskID int64
	State  store.TaskState
	Cause  json.RawMessage // the failure recorded on the task, if any
}

func (e *WorkflowError) Error() string {
	if len(e.Cause) > 0 {
		return fmt.Sprintf("workflow task %d ended %s: %s", e.TaskID, e.State, e.Cause)
	}
	return fmt.Sprintf("workflow task %d ended %s", e.TaskID, e.State)
}

// suspendSignal is what the driver returns to the worker when the workflow
// waits: the worker records OutcomeSuspend.
type suspendSignal struct {
	after time.Duration
	event string
	why   string
}

func (s *suspendSignal) Error() string { return "workflow suspended for " + s.after.String() }

func (s *suspendSignal) metadata() store.JSON {
	doc, _ := json.Marshal(map[string]any{"reason": "suspended", "waiting_for": s.why, "for_ms": s.after.Milliseconds()})
	return doc
}

// asSuspend reports whether a handler's error asks for a suspension.
func asSuspend(err error) (*suspendSignal, bool) {
	var s *suspendSignal
	if errors.As(err, &s) {
		return s, true
	}
	return nil, false
}

// WorkflowContext is what a workflow function gets. Its context.Context is
// the driver's run: cancelled when the task is cancelled, the lease is lost
// or the engine stops. Pass the WorkflowContext (not a goroutine of your
// own) to durable operations; do everything non-deterministic (I/O, time,
// randomness) inside durable steps.
type WorkflowContext struct {
	context.Context

	TaskID   int64
	Workflow string // "namespace/name"
	Logger   *zap.Logger

	e        *Engine
	lease    store.Lease
	replay   bool
	deadline time.Time
	history  map[int]*store.Step
	last     int // the highest recorded sequence

	mu        sync.Mutex
	seq       int
	stop      error // sticky: once set, durable operations return it
	fail      error
	abort     error
	suspended bool
	until     time.Time
	wakeOn    string
	why       string
	wg        sync.WaitGroup
}

// Now is the engine's clock (the fake clock in tests). Read it inside a
// durable step if the workflow branches on it.
func (w *WorkflowContext) Now() time.Time { return w.e.clk.Now() }

// Replaying reports whether this is Replay (nothing new executes).
func (w *WorkflowContext) Replaying() bool { return w.replay }

// begin takes the next sequence number for an operation and checks it
// against the history.
func (w *WorkflowContext) begin(name, kind string) (int, *store.Step, error) {
	w.mu.Lock()
	if w.stop != nil {
		err := w.stop
		w.mu.Unlock()
		return 0, nil, err
	}
	w.seq++
	seq := w.seq
	rec := w.history[seq]
	w.mu.Unlock()
	if rec != nil {
		rname, rkind := recordedName(rec)
		if rname != name || rkind != kind {
			return seq, nil, w.failWith(&NonDeterminismError{TaskID: w.TaskID, Sequence: seq, Recorded: describe(rname, rkind), New: describe(name, kind)})
		}
		if rec.State == store.StepCancelled {
			return seq, nil, w.abortWith(errTaskCancelled)
		}
	}
	if w.replay && (rec == nil || !rec.State.Satisfied()) {
		return seq, nil, w.stopWith(errReplayEnd)
	}
	return seq, rec, nil
}

func describe(name, kind string) string {
	switch kind {
	case kindSleep:
		return "Sleep"
	case kindEvent:
		return fmt.Sprintf("WaitEvent %q", name)
	case kindChild:
		return fmt.Sprintf("Child %q", name)
	default:
		return fmt.Sprintf("step %q", name)
	}
}

// recordedName splits a durable row's name ("charge#3") and kind.
func recordedName(s *store.Step) (string, string) {
	name := s.Name
	if i := strings.LastIndexByte(name, '#'); i >= 0 {
		name = name[:i]
	}
	return name, s.Handler
}

func (w *WorkflowContext) stopWith(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stop == nil {
		w.stop = err
	}
	return w.stop
}

func (w *WorkflowContext) failWith(err error) error {
	w.mu.Lock()
	if w.fail == nil && w.abort == nil {
		w.fail = err
	}
	w.mu.Unlock()
	w.stopWith(err)
	return err
}

func (w *WorkflowContext) abortWith(err error) error {
	w.mu.Lock()
	if w.abort == nil {
		w.abort = err
	}
	w.mu.Unlock()
	w.stopWith(err)
	return err
}

// suspend stops this run until at (the earliest of several waits wins).
func (w *WorkflowContext) suspend(at time.Time, event, why string) error {
	w.mu.Lock()
	if !w.suspended || at.Before(w.until) {
		w.until, w.why = at, why
	}
	if event != "" {
		w.wakeOn = event
	}
	w.suspended = true
	if w.stop == nil {
		w.stop = ErrSuspended
	}
	w.mu.Unlock()
	return ErrSuspended
}

// record writes one durable row under the driver's lease.
func (w *WorkflowContext) record(p store.RecordStepParams) (*store.Step, error) {
	return w.write(p, false)
}

// recordFirst records a step that completed on its first attempt and has
// no row yet; it is grouped with other drivers' (see Engine.recordCompleted).
func (w *WorkflowContext) recordFirst(p store.RecordStepParams) (*store.Step, error) {
	return w.write(p, true)
}

func (w *WorkflowContext) write(p store.RecordStepParams, grouped bool) (*store.Step, error) {
	p.Driver, p.TaskID, p.Now = w.lease, w.TaskID, w.e.now()
	p.Name = p.Name + "#" + strconv.Itoa(p.Sequence)
	ctx := context.WithoutCancel(w.Context)
	var st *store.Step
	var err error
	if grouped {
		st, err = w.e.recordCompleted(ctx, &p)
	} else {
		st, err = w.e.st.RecordStep(ctx, &p)
	}
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			return nil, w.abortWith(errLeaseLost)
		}
		return nil, w.abortWith(fmt.Errorf("recording durable step %s: %w", p.Name, err))
	}
	w.mu.Lock()
	w.history[p.Sequence] = st
	w.mu.Unlock()
	return st, nil
}

// StepOption adjusts one durable step.
type StepOption func(*stepOptions)

type stepOptions struct {
	limit     int
	noRetry   bool
	backoff   retry.Policy
	timeout   time.Duration
	dependent string
}

// WithStepRetryLimit sets the step's total attempts (default 3).
func WithStepRetryLimit(n int) StepOption { return func(o *stepOptions) { o.limit = n } }

// WithStepNoRetry makes the step run once: a failure fails the workflow.
func WithStepNoRetry() StepOption { return func(o *stepOptions) { o.noRetry = true } }

// WithStepBackoff sets the step's backoff between attempts (default: the
// engine's Retry policy).
func WithStepBackoff(p retry.Policy) StepOption { return func(o *stepOptions) { o.backoff = p } }

// WithStepTimeout bounds one attempt; an attempt that times out is retried.
func WithStepTimeout(d time.Duration) StepOption { return func(o *stepOptions) { o.timeout = d } }

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
// a PermanentError or exhausted attempts fail the workflow.
func Step[T any](wctx *WorkflowContext, name string, fn func(ctx context.Context) (T, error), opts ...StepOption) (T, error) {
	var zero T
	seq, rec, err := wctx.begin(name, kindStep)
	if err != nil {
		return zero, err
	}
	return runStep(wctx, seq, rec, name, fn, opts)
}

func runStep[T any](wctx *WorkflowContext, seq int, rec *store.Step, name string, fn func(ctx context.Context) (T, error), opts []StepOption) (T, error) {
	var zero T
	if rec != nil && rec.State.Satisfied() {
		return decodeAs[T](wctx, seq, name, rec.Results)
	}
	var o stepOptions
	for _, opt := range opts {
		opt(&o)
	}
	limit := o.limit
	if limit <= 0 {
		limit = store.DefaultRetryLimit
	}
	if o.noRetry {
		limit = 1
	}
	policy := stepPolicy{Backoff: o.backoff, Timeout: o.timeout, DependentSystem: o.dependent}
	attempt := 1
	if rec != nil {
		if rec.State == store.StepError {
			return zero, wctx.failWith(&StepFailedError{Sequence: seq, Step: name, Attempts: rec.Attempts, Err: errors.New(string(rec.LastError))})
		}
		if now := wctx.e.clk.Now(); now.Before(rec.NextAttemptAt) {
			return zero, wctx.suspend(rec.NextAttemptAt, "", "retry of "+name)
		}
		attempt = rec.Attempts + 1
	}
	info := StepInfo{TaskID: wctx.TaskID, Sequence: seq, Name: name, Attempt: attempt, IdempotencyKey: fmt.Sprintf("%d:%d:%s", wctx.TaskID, seq, name)}
	ctx := context.WithValue(wctx.Context, stepInfoKey{}, info)
	timeout := o.timeout
	if timeout == 0 {
		timeout = wctx.e.cfg.Execution.DefaultTimeout
	}
	runCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	result, err := callStep(runCtx, fn)
	if cause := context.Cause(wctx.Context); cause != nil && err != nil {
		// Cancelled, lease lost or shutting down: a failure is not the
		// step's fault, so nothing is recorded and the step runs again if
		// the workflow resumes. (A success is still recorded while the
		// lease holds.)
		return zero, wctx.abortWith(cause)
	}
	policyDoc, _ := json.Marshal(policy)
	p := store.RecordStepParams{Sequence: seq, Name: name, Handler: kindStep, Policy: policyDoc, Retryable: !o.noRetry, RetryLimit: limit}
	var doc []byte
	if err == nil {
		var merr error
		if doc, merr = json.Marshal(result); merr != nil {
			err = Permanent(fmt.Errorf("encoding result of step %s: %w", name, merr))
		}
	}
	if err == nil {
		p.Kind, p.Results = store.OutcomeComplete, doc
		write := wctx.record
		if rec == nil {
			write = wctx.recordFirst
		}
		if _, rerr := write(p); rerr != nil {
			return zero, rerr
		}
		return decodeAs[T](wctx, seq, name, doc)
	}
	if runCtx.Err() == context.DeadlineExceeded {
		err = &RetryableError{Err: fmt.Errorf("step %s timed out after %s: %w", name, timeout, err)}
	}
	kind, delay, errDoc := wctx.e.classify(&store.Step{Name: name, Attempts: attempt}, policy, err)
	p.Kind, p.RetryAfter, p.Error = kind, delay, errDoc
	st, rerr := wctx.record(p)
	if rerr != nil {
		return zero, rerr
	}
	wctx.Logger.Info("durable step failed", zap.String("step", name), zap.Int("sequence", seq), zap.Int("attempt", attempt), zap.Error(err))
	if st.State == store.StepPending {
		return zero, wctx.suspend(st.NextAttemptAt, "", "retry of "+name)
	}
	return zero, wctx.failWith(&StepFailedError{Sequence: seq, Step: name, Attempts: st.Attempts, Err: err})
}

func callStep[T any](ctx context.Context, fn func(context.Context) (T, error)) (result T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: string(debug.Stack())}
		}
	}()
	return fn(ctx)
}

func decodeAs[T any](wctx *WorkflowContext, seq int, name string, doc []byte) (T, error) {
	var v T
	if len(doc) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return v, wctx.failWith(Permanent(fmt.Errorf("decoding the recorded result of step %s (sequence %d): %w", name, seq, err)))
	}
	return v, nil
}

// Future is the result of a durable step started with Go.
type Future[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// Get waits for the step and returns its result.
func (f *Future[T]) Get() (T, error) {
	<-f.done
	return f.val, f.err
}

// Go starts durable step name concurrently with the workflow and returns
// its future. Its sequence number is taken now, so futures are numbered in
// call order whatever order they finish in; a recorded one resolves at once.
func Go[T any](wctx *WorkflowContext, name string, fn func(ctx context.Context) (T, error), opts ...StepOption) *Future[T] {
	f := &Future[T]{done: make(chan struct{})}
	seq, rec, err := wctx.begin(name, kindStep)
	if err != nil || (rec != nil && rec.State.Satisfied()) {
		if err == nil {
			f.val, f.err = decodeAs[T](wctx, seq, name, rec.Results)
		} else {
			f.err = err
		}
		close(f.done)
		return f
	}
	wctx.wg.Add(1)
	go func() {
		defer wctx.wg.Done()
		defer close(f.done)
		f.val, f.err = runStep(wctx, seq, rec, name, fn, opts)
	}()
	return f
}

// All waits for every future and returns their results in order, or the
// first error (after all have finished).
func All[T any](futures ...*Future[T]) ([]T, error) {
	out := make([]T, len(futures))
	var first error
	for i, f := range futures {
		v, err := f.Get()
		out[i] = v
		if err != nil && first == nil {
			first = err
		}
	}
	return out, first
}

// Sleep suspends the workflow for d, durably: the wake-up time is recorded
// on first reach, the worker is released, and the workflow resumes on any
// worker once the time has passed, also after a restart.
func Sleep(wctx *WorkflowContext, d time.Duration) error {
	seq, rec, err := wctx.begin("sleep", kindSleep)
	if err != nil {
		return err
	}
	if rec != nil && rec.State.Satisfied() {
		return nil
	}
	p := store.RecordStepParams{Sequence: seq, Name: "sleep", Handler: kindSleep, Kind: store.OutcomeSuspend, RetryAfter: max(d, 0)}
	if rec == nil {
		if d <= 0 {
			p.Kind, p.Results = store.OutcomeComplete, store.JSON(`{}`)
			_, err := wctx.record(p)
			return err
		}
		if rec, err = wctx.record(p); err != nil {
			return err
		}
	}
	if wctx.e.clk.Now().Before(rec.NextAttemptAt) {
		return wctx.suspend(rec.NextAttemptAt, "", "sleep")
	}
	p.Kind, p.Results = store.OutcomeComplete, store.JSON(`{}`)
	_, err = wctx.record(p)
	return err
}

// eventResult is the recorded result of an event wait.
type eventResult struct {
	Timeout bool            `json:"timeout,omitempty"`
	Key     string          `json:"key,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// WaitEvent waits, durably, up to timeout for an event of that name sent to
// this workflow (Engine.SendEvent) and returns its payload decoded as T. An
// event sent before the wait is not lost: it is consumed when the wait is
// reached. Each wait consumes one event (the oldest). The outcome, the
// event or the timeout (an *EventTimeoutError), is recorded, so a replay
// returns the same one.
func WaitEvent[T any](wctx *WorkflowContext, name string, timeout time.Duration) (T, error) {
	var zero T
	seq, rec, err := wctx.begin(name, kindEvent)
	if err != nil {
		return zero, err
	}
	if rec == nil || !rec.State.Satisfied() {
		rec, err = wctx.record(store.RecordStepParams{Sequence: seq, Name: name, Handler: kindEvent, Kind: store.OutcomeSuspend,
			RetryAfter: max(timeout, 0), ConsumeEvent: name})
		if err != nil {
			return zero, err
		}
		if !rec.State.Satisfied() {
			if wctx.e.clk.Now().Before(rec.NextAttemptAt) {
				return zero, wctx.suspend(rec.NextAttemptAt, name, "event "+name)
			}
			if rec, err = wctx.record(store.RecordStepParams{Sequence: seq, Name: name, Handler: kindEvent, Kind: store.OutcomeComplete,
				Results: store.JSON(`{"timeout":true}`), ConsumeEvent: name}); err != nil {
				return zero, err
			}
		}
	}
	var r eventResult
	if err := json.Unmarshal(rec.Results, &r); err != nil {
		return zero, wctx.failWith(Permanent(fmt.Errorf("decoding the recorded event %s (sequence %d): %w", name, seq, err)))
	}
	if r.Timeout {
		return zero, &EventTimeoutError{Event: name, Timeout: timeout}
	}
	return decodeAs[T](wctx, seq, name, r.Payload)
}

// SendEvent sends an event to a workflow task: it is recorded once per
// (task, name, key) — sending again with the same key changes nothing — and
// the workflow's driver is woken in the same transaction, so a workflow
// waiting for it resumes at once and one not waiting yet finds it later.
// An empty key makes every send a new event. It reports whether the event
// was new.
func (e *Engine) SendEvent(ctx context.Context, taskID int64, name, key string, payload any) (bool, error) {
	doc, err := json.Marshal(payload)
	if err != nil {
		return false, fmt.Errorf("sending event %s to task %d: encoding payload: %w", name, taskID, err)
	}
	created := false
	err = e.st.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		s := e.st.WithTx(tx)
		d, err := s.GetTask(ctx, taskID)
		if err != nil {
			return err
		}
		switch {
		case d.Task.Kind != store.KindCode:
			return fmt.Errorf("%w: task %d is a DAG task; only code-first workflows read events", ErrEventRefused, taskID)
		case d.Task.State.Terminal():
			return fmt.Errorf("%w: task %d is %s; no workflow will read it", ErrEventRefused, taskID, d.Task.State)
		}
		_, c, err := s.SendEvent(ctx, &store.SendEventParams{TaskID: taskID, Name: name, Key: key, Payload: doc, Now: e.now()})
		if err != nil {
			return err
		}
		created = c
		if c {
			_, err = s.WakeTask(ctx, &store.WakeTaskParams{TaskID: taskID, Now: e.now()})
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sending event %s to task %d: %w", name, taskID, err)
	}
	if created {
		e.Notify()
	}
	return created, nil
}

// workflowDef is a registered workflow function.
type workflowDef struct {
	name string
	run  func(wctx *WorkflowContext, input store.JSON) (any, error)
}

// workflowInput is a code-first task's context: the input under "input".
type workflowInput struct {
	Input json.RawMessage `json:"input"`
}

// driverConfig is the driver step's configuration.
type driverConfig struct {
	Deadline time.Time `json:"deadline,omitzero"`
}

// RegisterWorkflow registers fn as the code-first workflow "namespace/name".
// Start it with StartWorkflow; workers of any process that registered it run
// it.
func RegisterWorkflow[I, O any](e *Engine, name string, fn func(wctx *WorkflowContext, in I) (O, error)) error {
	ns, n, ok := strings.Cut(name, "/")
	if !ok || ns == "" || n == "" || strings.ContainsAny(n, "/@") || strings.Contains(ns, "@") {
		return fmt.Errorf("registering workflow %q: the name must be \"namespace/name\"", name)
	}
	def := &workflowDef{name: name, run: func(wctx *WorkflowContext, input store.JSON) (any, error) {
		var wi workflowInput
		var in I
		if err := json.Unmarshal(input, &wi); err != nil {
			return nil, Permanent(fmt.Errorf("decoding input of workflow %s: %w", name, err))
		}
		if len(wi.Input) > 0 {
			if err := json.Unmarshal(wi.Input, &in); err != nil {
				return nil, Permanent(fmt.Errorf("decoding input of workflow %s: %w", name, err))
			}
		}
		return fn(wctx, in)
	}}
	return e.Handle(WorkflowHandlerPrefix+name, &workflowHandler{e: e, def: def})
}

// workflowHandler is a workflow's driver handler.
type workflowHandler struct {
	e   *Engine
	def *workflowDef
}

// Handle runs the driver once.
func (h *workflowHandler) Handle(sc *StepContext) (any, error) { return h.e.drive(sc, h.def) }

func (e *Engine) workflowDef(name string) (*workflowDef, bool) {
	h, ok := e.reg.Lookup(WorkflowHandlerPrefix + name)
	if !ok {
		return nil, false
	}
	wh, ok := h.(*workflowHandler)
	if !ok {
		return nil, false
	}
	return wh.def, true
}

// WithWorkflowTimeout fails the workflow with ErrWorkflowTimeout if it has
// not finished d after it started.
func WithWorkflowTimeout(d time.Duration) StartOption {
	return func(o *startOptions) { o.timeout = d }
}

// WorkflowHandle refers to a started code-first workflow with result type O.
type WorkflowHandle[O any] struct {
	TaskID   int64
	Existing bool // StartWorkflow found the task by its identity
	e        *Engine
}

// GetWorkflow returns a handle to an existing workflow task.
func GetWorkflow[O any](e *Engine, taskID int64) *WorkflowHandle[O] {
	return &WorkflowHandle[O]{TaskID: taskID, e: e}
}

// Result waits until the workflow finishes and returns its decoded result,
// or a *WorkflowError when it failed or was cancelled.
func (h *WorkflowHandle[O]) Result(ctx context.Context) (O, error) {
	var zero O
	out, err := h.e.Wait(ctx, h.TaskID)
	if err != nil {
		return zero, err
	}
	if out.State != store.TaskComplete {
		return zero, &WorkflowError{TaskID: h.TaskID, State: out.State, Cause: out.Error}
	}
	var v O
	if raw, ok := out.Results[DriverStep]; ok {
		if err := json.Unmarshal(raw, &v); err != nil {
			return zero, fmt.Errorf("decoding the result of workflow task %d: %w", h.TaskID, err)
		}
	}
	return v, nil
}

// StartWorkflow starts the registered workflow name with input in. By
// default the task's identity is a hash of the name and the input, so
// starting the same input twice returns the first task; WithIdempotencyKey,
// Unique, InTx, WithPriority and WithWorkflowTimeout adjust it.
func StartWorkflow[I, O any](ctx context.Context, e *Engine, name string, in I, opts ...StartOption) (*WorkflowHandle[O], error) {
	id, existing, err := e.startWorkflow(ctx, name, in, opts...)
	if err != nil {
		return nil, err
	}
	return &WorkflowHandle[O]{TaskID: id, Existing: existing, e: e}, nil
}

// startWorkflow is StartWorkflow without the types.
func (e *Engine) startWorkflow(ctx context.Context, name string, in any, opts ...StartOption) (int64, bool, error) {
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	if _, ok := e.workflowDef(name); !ok {
		return 0, false, fmt.Errorf("%w: %q", ErrUnknownWorkflow, name)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return 0, false, fmt.Errorf("starting %s: %w: %w", name, ErrInvalidInput, err)
	}
	doc, err := normalizeInput(map[string]json.RawMessage{"input": raw})
	if err != nil {
		return 0, false, fmt.Errorf("starting %s: %w: %w", name, ErrInvalidInput, err)
	}
	identity, inputHash := o.identity(name, name+"@code", doc)
	var cfg store.JSON
	if o.timeout > 0 {
		cfg, _ = json.Marshal(driverConfig{Deadline: e.clk.Now().Add(o.timeout).UTC()})
	}
	ns, n, _ := strings.Cut(name, "/")
	st := e.st
	if o.tx != nil {
		st = st.WithTx(o.tx)
	}
	res, err := st.CreateTask(ctx, &store.CreateTaskParams{
		Namespace: ns, Name: n, Version: "code", Kind: store.KindCode,
		IdentityKey: identity, InputHash: inputHash, Context: doc, Priority: o.priority, ParentID: o.parent,
		Steps: []store.NewStep{{Name: DriverStep, Handler: WorkflowHandlerPrefix + name, Config: cfg, Retryable: true, RetryLimit: defaultDriverRetryLimit}},
		Now:   e.now(),
	})
	if err != nil {
		return 0, false, fmt.Errorf("starting %s: %w", name, err)
	}
	if !res.Existing {
		e.stat.started.Add(1)
		e.emit(Event{Name: EventTaskStarted, TaskID: res.Task.ID})
		e.Notify()
	}
	return res.Task.ID, res.Existing, nil
}

// drive is one run of a workflow's driver step.
func (e *Engine) drive(sc *StepContext, def *workflowDef) (any, error) {
	e.imu.Lock()
	f := e.inflight[sc.StepID]
	e.imu.Unlock()
	if f == nil {
		return nil, errors.New("workflow driver is not running under a lease")
	}
	wctx, err := e.newWorkflowContext(sc, sc.TaskID, f.lease, false)
	if err != nil {
		return nil, err
	}
	var cfg driverConfig
	_ = sc.Config(&cfg)
	wctx.deadline = cfg.Deadline
	if !cfg.Deadline.IsZero() && !e.clk.Now().Before(cfg.Deadline) {
		return nil, Permanent(fmt.Errorf("workflow task %d: %w (deadline %s)", sc.TaskID, ErrWorkflowTimeout, cfg.Deadline.Format(time.RFC3339)))
	}
	if !cfg.Deadline.IsZero() && !e.fake {
		ctx, cancel := context.WithDeadline(wctx.Context, cfg.Deadline)
		defer cancel()
		wctx.Context = ctx
	}
	out, ferr := runWorkflowFn(wctx, def, sc.input)
	wctx.wg.Wait()
	return wctx.conclude(out, ferr)
}

func (e *Engine) newWorkflowContext(ctx context.Context, taskID int64, lease store.Lease, replay bool) (*WorkflowContext, error) {
	d, err := e.st.GetTask(ctx, taskID)
	if err != nil {
		return nil, fmt.Errorf("loading the history of workflow task %d: %w", taskID, err)
	}
	w := &WorkflowContext{Context: ctx, TaskID: taskID, Workflow: d.Task.Namespace + "/" + d.Task.Name, e: e, lease: lease, replay: replay,
		history: map[int]*store.Step{}}
	w.Logger = e.log.With(zap.Int64("task_id", taskID), zap.String("workflow", w.Workflow))
	for _, s := range d.Steps {
		if s.Sequence != nil {
			w.history[*s.Sequence] = s
			w.last = max(w.last, *s.Sequence)
		}
	}
	return w, nil
}

func runWorkflowFn(wctx *WorkflowContext, def *workflowDef, input store.JSON) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: string(debug.Stack())}
		}
	}()
	return def.run(wctx, input)
}

// conclude turns the end of a run into the driver's outcome.
func (w *WorkflowContext) conclude(out any, ferr error) (any, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.abort != nil:
		return nil, w.abort
	case w.fail != nil:
		return nil, Permanent(w.fail)
	case w.suspended:
		until := w.until
		if !w.deadline.IsZero() && until.After(w.deadline) {
			until = w.deadline
		}
		return nil, &suspendSignal{after: max(until.Sub(w.e.clk.Now()), 0), event: w.wakeOn, why: w.why}
	case ferr != nil:
		var re *RetryableError
		var pe *PanicError
		if errors.As(ferr, &re) || errors.As(ferr, &pe) {
			return nil, ferr
		}
		return nil, Permanent(ferr)
	case w.last > w.seq:
		rec := w.history[w.seq+1]
		name, kind := "", ""
		if rec != nil {
			name, kind = recordedName(rec)
		}
		return nil, Permanent(&NonDeterminismError{TaskID: w.TaskID, Sequence: w.seq + 1, Recorded: describe(name, kind)})
	}
	return out, nil
}

// Replay runs a workflow task's function against its recorded history with
// the code registered now, executing nothing new: it returns a
// *NonDeterminismError (errors.Is ErrNonDeterministic) when the code
// diverges from the history, and nil when the history is a valid prefix of
// what the code does. Use it before deploying changed workflow code.
func (e *Engine) Replay(ctx context.Context, taskID int64) error {
	wctx, err := e.newWorkflowContext(ctx, taskID, store.Lease{}, true)
	if err != nil {
		return err
	}
	d, err := e.st.GetTask(ctx, taskID)
	if err != nil {
		return err
	}
	driver := d.Step(DriverStep)
	if d.Task.Kind != store.KindCode || driver == nil {
		return fmt.Errorf("replaying task %d: not a code-first workflow", taskID)
	}
	def, ok := e.workflowDef(strings.TrimPrefix(driver.Handler, WorkflowHandlerPrefix))
	if !ok {
		return fmt.Errorf("replaying task %d: %w: %q", taskID, ErrUnknownWorkflow, strings.TrimPrefix(driver.Handler, WorkflowHandlerPrefix))
	}
	_, ferr := runWorkflowFn(wctx, def, d.Task.Context)
	wctx.wg.Wait()
	wctx.mu.Lock()
	defer wctx.mu.Unlock()
	var nd *NonDeterminismError
	switch {
	case errors.As(wctx.fail, &nd):
		return nd
	case wctx.stop != nil:
		return nil // the history ends here; the code went on consistently
	case ferr == nil && wctx.last > wctx.seq:
		name, kind := recordedName(wctx.history[wctx.seq+1])
		return &NonDeterminismError{TaskID: taskID, Sequence: wctx.seq + 1, Recorded: describe(name, kind)}
	}
	return nil
}
