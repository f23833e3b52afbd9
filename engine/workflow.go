package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

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

	// EventStepSuspended: a step went back to pending without an outcome:
	// a code-first workflow's driver suspended (a sleep, an event wait, a
	// child, a durable step's retry backoff), or a step was held back
	// because its dependent system is paused or its breaker open (it did
	// not start: no step.started, and its attempt is not counted).
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
	// attempts exhausted); see StepFailedError. The workflow may handle it;
	// returned, it fails the workflow.
	ErrStepFailed = errors.New("tasker: durable step failed")
	// errReplayEnd stops a replay at the end of the recorded history.
	errReplayEnd = errors.New("tasker: end of recorded history")
	// errRunOver is what durable operations return once the run's workflow
	// function has returned: one called then comes from a goroutine of the
	// workflow's own, and nothing it did would be recorded.
	errRunOver = Permanent(errors.New("tasker: durable operation called after its workflow function returned, from a goroutine of its own: " + durableBelong))
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

// StepFailedError is a durable step that failed for good: its error was
// permanent, or its attempts ran out. Step (and Go's Future.Get) return it
// to the workflow, which may handle it — compensate, take another path —
// and carry on; only when the workflow function returns it (or any error)
// does the workflow fail. It is built from what was recorded, so a replay
// returns the same error the first run saw: branch on Failure.Kind and
// Failure.Code, or on the engine's sentinels (errors.Is matches
// ErrStepFailed, and ErrPayloadTooLarge and the others by kind, as the
// task's StepError does), not on the step function's own error values.
type StepFailedError struct {
	Sequence int
	Step     string
	Attempts int
	// Failure is the step's last failure as recorded (Kind says whether
	// it was permanent, exhausted, a panic, a timeout).
	Failure *StepError
}

func (e *StepFailedError) Error() string {
	msg := ""
	if e.Failure != nil {
		msg = fmt.Sprintf(" (%s)", e.Failure.Kind)
		if c := e.Failure.Code; c != "" && !strings.HasPrefix(e.Failure.Message, c+": ") {
			// (A PermanentError's message starts with its code already.)
			msg += " " + c
		}
		msg += ": " + e.Failure.Message
	}
	return fmt.Sprintf("durable step %s (sequence %d) failed after %d attempts%s", e.Step, e.Sequence, e.Attempts, msg)
}

// Is matches ErrStepFailed, and the sentinels the task's StepError for the
// same failure matches by kind (StepError.Is): ErrPayloadTooLarge for a
// result over Config.MaxPayloadBytes, ErrWorkflowTimeout, … — the same
// test holds around engine.Step and on the task's Outcome.
func (e *StepFailedError) Is(target error) bool {
	return target == ErrStepFailed || e.Failure != nil && e.Failure.Is(target)
}

// suspendSignal is what the driver returns to the worker when the workflow
// waits: the worker records OutcomeSuspend.
type suspendSignal struct {
	after  time.Duration
	events []string // wake at once if one of these events waits
	tasks  []int64  // or if one of these (children) has finished
	why    string
	system string // the dependent system waited for (see suspendOn)
}

func (s *suspendSignal) Error() string { return "workflow suspended for " + s.after.String() }

func (s *suspendSignal) metadata() store.JSON {
	m := map[string]any{"reason": "suspended", "waiting_for": s.why, "for_ms": s.after.Milliseconds()}
	if s.system != "" {
		m["system"] = s.system // Explain reads it as a held DAG step's
	}
	doc, _ := json.Marshal(m)
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
// randomness) inside durable steps. A durable operation given a nil
// *WorkflowContext fails the workflow for good, naming the call and where.
type WorkflowContext struct {
	context.Context

	TaskID   int64
	Workflow string // "namespace/name"
	Logger   *zap.Logger

	e        *Engine
	queue    string // children inherit it
	version  string // the task's, for the spans (store.Task.Version)
	lease    store.Lease
	replay   bool
	deadline time.Time
	// skew is the store's clock minus the engine's, as measured at the
	// claim (see StepContext.storeSkew): the times recorded with the
	// history (a retry's or a sleep's next attempt) are the store's, and
	// a process whose clock runs ahead must not fire them early.
	skew    time.Duration
	history map[int]*store.Step
	last    int // the highest recorded sequence

	mu         sync.Mutex
	seq        int
	stop       error // sticky: once set, durable operations return it
	fail       error
	abort      error
	suspended  bool
	until      time.Time
	wakeOn     []string
	wakeOnTask []int64 // children waited for (see suspendSignal)
	why        string
	system     string // the dependent system the earliest wait is for
	wg         sync.WaitGroup
	// pending is the record of the last durable step, when it completed
	// with no other step running (see recordCompleted); futures counts
	// the steps running under Go.
	pending []*store.RecordStepParams
	futures atomic.Int32
	// continued is ContinueAsNew's error once the next run exists: the
	// run ends continued by it (see conclude).
	continued *ContinuedError
	// inStep names the durable step (Step) whose function runs now, and
	// selecting says Select waits for futures: the workflow's goroutine is
	// inside that operation, so one begun meanwhile is called from another
	// goroutine, that function's or a future's (see misplaced).
	inStep    string
	selecting bool
	// started holds the futures of Go (see warnUnread).
	started []interface{ unreadFailure() (string, error) }
}

// warnUnread warns of each durable step started with Go that failed for
// good while its future was never read: the workflow completes as if it
// had succeeded, and the failure is otherwise only in its record.
// Dropping a future's result is the code's choice (read it and ignore
// the error to say so); a failure dropped unseen is more likely a
// forgotten Get.
func (w *WorkflowContext) warnUnread() {
	if w.replay {
		return
	}
	w.mu.Lock()
	started := w.started
	w.mu.Unlock()
	for _, f := range started {
		if name, err := f.unreadFailure(); err != nil {
			w.Logger.Warn("a durable step started with engine.Go failed and its future was never read (Future.Get, engine.All or engine.Select): the workflow ends without seeing the failure",
				zap.String("step", name), zap.Error(err))
		}
	}
}

// Now is the engine's clock (the fake clock in tests). Read it inside a
// durable step if the workflow branches on it.
func (w *WorkflowContext) Now() time.Time {
	mustContext(w, "WorkflowContext.Now")
	return w.e.clk.Now()
}

// now is the store's time by this process's clock: what recorded due
// times are compared with.
func (w *WorkflowContext) now() time.Time { return w.e.clk.Now().Add(w.skew) }

// Replaying reports whether this is Replay (nothing new executes).
func (w *WorkflowContext) Replaying() bool {
	mustContext(w, "WorkflowContext.Replaying")
	return w.replay
}

// nilContextError is the panic of a durable operation given a nil
// *WorkflowContext (see mustContext); attemptErr makes it a permanent
// failure, not a panic retried as a bug: every run would panic the same.
type nilContextError struct{ msg string }

func (e *nilContextError) Error() string { return e.msg }

// mustContext panics with a nilContextError, naming what and its caller's
// place, when w is nil: a helper called with nil, say, which dereferenced
// it ("nil pointer dereference", nothing said which call). Most callers
// could return an error, but Version, NewTimer and Go have none to return,
// and a dropped error must fail the workflow as a failWith does.
func mustContext(w *WorkflowContext, what string) {
	if w != nil {
		return
	}
	where := "an unknown place"
	if _, file, line, ok := runtime.Caller(2); ok {
		where = fmt.Sprintf("%s:%d", filepath.Base(file), line)
	}
	panic(&nilContextError{fmt.Sprintf("%s called with a nil *WorkflowContext at %s: pass the wctx the workflow function was given", what, where)})
}

// maxDurableName is the longest name a durable operation's code may give
// it: its row is named name#seq (store.DurableStepName), and a sequence
// number has at most 11 digits.
const maxDurableName = store.MaxNameLen - 12

// durableNameProblem says why name cannot name a durable step ("" when it
// can). The store would refuse it: refused only when the step is recorded,
// under the driver's lease, such a name failed the driver's commit on every
// run, the step running again each time. fresh says the step has no record
// yet: a name with spaces around it is refused then, as registration
// refuses one (a step " charge" could not be told from "charge" where it
// is listed), while a history recorded before replays with it.
func durableNameProblem(name string, fresh bool) string {
	if len(name) > maxDurableName {
		return fmt.Sprintf("durable step name %s is %d bytes long; the limit for a durable operation is %d", quoteName(name), len(name), maxDurableName)
	}
	if fresh {
		return checkName("durable step name", name)
	}
	return checkStoreName("durable step name", name)
}

// begin takes the next sequence number for an operation and checks it
// against the history.
func (w *WorkflowContext) begin(name, kind string) (int, *store.Step, error) {
	if err := w.flushPending(); err != nil {
		return 0, nil, err
	}
	w.mu.Lock()
	if w.stop != nil {
		err := w.stop
		w.mu.Unlock()
		return 0, nil, err
	}
	if err := w.misplaced(describe(name, kind)); err != nil {
		// Its record would replay without calling the function, and
		// what it recorded would stand where the workflow's next
		// operation does.
		w.mu.Unlock()
		return 0, nil, w.failWith(err)
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
	// A durable step that failed for good returns its recorded failure,
	// which the workflow may handle and go on (a saga's compensation):
	// the history goes on past it, and so does a replay.
	if w.replay && (rec == nil || !rec.State.Satisfied() && !(rec.State == store.StepError && kind == kindStep)) {
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
	case kindVersion:
		return fmt.Sprintf("Version %q", name)
	case kindTimer:
		return "NewTimer"
	case kindSelect:
		return "Select"
	default:
		return fmt.Sprintf("step %q", name)
	}
}

// recordedName splits a durable row's name ("charge#3") and kind.
func recordedName(s *store.Step) (string, string) {
	return s.UserName(), s.Handler
}

// durableBelong says where durable operations are called from.
const durableBelong = "durable operations belong to the workflow function; a step's function does its work with the ctx it is given"

// insideStep is the failure of a durable operation (what) called inside
// the function of durable step outer.
func insideStep(what, outer string) error {
	return Permanent(fmt.Errorf("%s called inside the function of durable step %q: %s", what, outer, durableBelong))
}

// misplaced is the failure of a durable operation (what) called while the
// workflow's goroutine is inside another one (nil when it is not): a
// durable step's function runs, or Select waits for futures. The call
// came from another goroutine: that function's, a Go future's function's
// (while futures run, which one cannot be told: Go has no goroutine
// identity, and both close over the same WorkflowContext), or one of the
// workflow's own. A future's function calling one while the workflow is
// between operations, or waits in Future.Get (which any goroutine may
// call), is not caught here: its record then stands where a replay,
// which does not call the function, finds the workflow's next operation
// (a NonDeterminismError). Called with w.mu held.
func (w *WorkflowContext) misplaced(what string) error {
	switch {
	case w.inStep != "" && w.futures.Load() == 0:
		return insideStep(what, w.inStep)
	case w.inStep != "":
		return Permanent(fmt.Errorf("%s called while durable step %q runs and Go futures' functions with it: inside one of their functions, or from a goroutine of the workflow's own; %s", what, w.inStep, durableBelong))
	case w.selecting:
		return Permanent(fmt.Errorf("%s called while engine.Select waits for Go futures: inside a future's function, or from a goroutine of the workflow's own; %s", what, durableBelong))
	}
	return nil
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

// suspend stops this run until at (the earliest of several waits wins),
// or until one of events arrives.
func (w *WorkflowContext) suspend(at time.Time, why string, events ...string) error {
	return w.suspendOn(at, why, "", events...)
}

// suspendOn is suspend for a wait on a dependent system (none: ""), which
// the suspension's metadata names.
func (w *WorkflowContext) suspendOn(at time.Time, why, system string, events ...string) error {
	// The store keeps times to the microsecond: a wake-up written
	// truncated would come before a deadline off the microsecond (a
	// timer's), which is then not yet due, and the workflow would suspend
	// again until the same instant. Round up.
	if r := at.Truncate(time.Microsecond); r.Before(at) {
		at = r.Add(time.Microsecond)
	}
	w.mu.Lock()
	if !w.suspended || at.Before(w.until) {
		w.until, w.why, w.system = at, why, system
	}
	w.wakeOn = append(w.wakeOn, events...)
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
// no row yet; it is grouped with other drivers' (see Engine.recordGrouped).
func (w *WorkflowContext) recordFirst(p store.RecordStepParams) (*store.Step, error) {
	p.Attempt = 1
	return w.write(p, true)
}

// recordAttempt records attempt p.Attempt of a durable step, completed or
// failed; it is grouped with other drivers' (see Engine.recordGrouped).
func (w *WorkflowContext) recordAttempt(p store.RecordStepParams) (*store.Step, error) {
	return w.write(p, true)
}

// recordCompleted records a durable step that completed; fresh says it
// has no row yet (its first attempt, not reset by an operator's retry).
// Such a step, when no other step runs (no future of Go is in flight), is
// held back (pending) and written with whatever the workflow does next:
// by the next durable operation, which flushes it before anything else
// happens (so a step's record is durable before any later step, sleep,
// child or event begins), or, when the workflow returns or suspends, in
// the commit of its driver's outcome (store.StepOutcome.Records). A
// one-step workflow so commits twice (start, finish) instead of three
// times. A crash in between loses the record and the step runs again, as
// it would have had the crash come a moment earlier, while it ran.
func (w *WorkflowContext) recordCompleted(p store.RecordStepParams, fresh bool) error {
	if !fresh || w.futures.Load() > 0 {
		_, err := w.recordAttempt(p)
		return err
	}
	if err := w.prepare(&p); err != nil {
		return err
	}
	w.mu.Lock()
	w.pending = append(w.pending, &p)
	w.mu.Unlock()
	return nil
}

// takePending returns the held-back records and forgets them.
func (w *WorkflowContext) takePending() []*store.RecordStepParams {
	w.mu.Lock()
	defer w.mu.Unlock()
	recs := w.pending
	w.pending = nil
	return recs
}

// flushPending writes the held-back records (see recordCompleted).
func (w *WorkflowContext) flushPending() error {
	for _, p := range w.takePending() {
		if _, err := w.commit(p, true); err != nil {
			return err
		}
	}
	return nil
}

// prepare completes p for the store: the driver's lease, the time, the
// stored name, and the result encoded by Config.Codec.
func (w *WorkflowContext) prepare(p *store.RecordStepParams) error {
	name := p.Name
	p.Driver, p.TaskID, p.Now = w.lease, w.TaskID, w.e.now()
	p.Name = store.DurableStepName(p.Name, p.Sequence)
	if len(p.Results) == 0 || p.Handler == kindStep && w.e.codec == nil {
		return nil // (a step's result is held to the limit by Step)
	}
	var enc store.JSON
	var err error
	if p.Handler == kindStep {
		enc, err = w.e.encodeChecked("result of durable step "+name, p.Results)
		if errors.Is(err, ErrPayloadTooLarge) && p.Kind == store.OutcomeComplete {
			// Over the limit only once encoded: the step's failure, as
			// one over it as JSON is (see Step), not the workflow's.
			return &resultTooLarge{err}
		}
	} else {
		// The other records (a child's result, an event, a select) carry
		// payloads held to the limit where they came in: the record is
		// held only to what the store takes. Over it, the store refused
		// the write, taken for a failed one, and the run never ended.
		if enc, err = w.e.encode(p.Results); err == nil && len(enc) > store.MaxJSONBytes {
			err = fmt.Errorf("%w: the record of %s is %d bytes as stored, over the store's limit of %d bytes (store.MaxJSONBytes)", ErrPayloadTooLarge, name, len(enc), store.MaxJSONBytes)
		}
	}
	if err != nil {
		return w.failWith(Permanent(err))
	}
	p.Results = enc
	return nil
}

// commit writes a prepared record.
func (w *WorkflowContext) commit(p *store.RecordStepParams, grouped bool) (*store.Step, error) {
	ctx := context.WithoutCancel(w.Context)
	var st *store.Step
	var err error
	if grouped {
		st, err = w.e.recordGrouped(ctx, p)
	} else {
		st, err = w.e.st.RecordStep(ctx, p)
	}
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			return nil, w.abortWith(errLeaseLost)
		}
		return nil, w.abortWith(fmt.Errorf("recording durable step %s: %w", p.Name, err))
	}
	return st, nil
}

func (w *WorkflowContext) write(p store.RecordStepParams, grouped bool) (*store.Step, error) {
	if err := w.flushPending(); err != nil {
		return nil, err
	}
	plain := p.Results
	if err := w.prepare(&p); err != nil {
		return nil, err
	}
	st, err := w.commit(&p, grouped)
	if err != nil {
		return nil, err
	}
	if w.e.codec != nil { // the history holds results as JSON
		cp := *st
		if len(plain) > 0 {
			cp.Results = plain
		} else if cp.Results, err = w.e.decode(st.Results); err != nil {
			return nil, w.failWith(Permanent(fmt.Errorf("durable step %s: %w", p.Name, err)))
		}
		st = &cp
	}
	w.mu.Lock()
	w.history[p.Sequence] = st
	w.mu.Unlock()
	return st, nil
}
