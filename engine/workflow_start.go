package engine

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/attempt"
	"github.com/tasker-go/tasker/engine/internal/waiters"
	"github.com/tasker-go/tasker/internal/clock"

	"github.com/tasker-go/tasker/store"
)

// workflowDef is a registered workflow function.
type workflowDef struct {
	name      string
	in, out   reflect.Type // the types it was registered with
	run       func(wctx *WorkflowContext, input store.JSON) (any, error)
	retention time.Duration // WithRetention
	// retentions: the values WithRetention was given (more than one
	// different value is refused: the later would win without a word)
	retentions []time.Duration
}

// WorkflowOption configures a code-first workflow when it is registered
// (RegisterWorkflow).
type WorkflowOption func(*workflowDef)

// WithRetention keeps the workflow's tasks this long once finished,
// overriding ExecutionConfig.Retention, as Template.Retention does for a
// DAG template: KeepForever never deletes them; otherwise at least a
// millisecond (0 is refused: leave the option out for the engine's). Each
// task keeps the retention it started with. Given twice with different
// values, it is refused.
func WithRetention(d time.Duration) WorkflowOption {
	return func(w *workflowDef) { w.retention, w.retentions = d, append(w.retentions, d) }
}

// workflowInput is a code-first task's context: the input under "input".
type workflowInput struct {
	Input json.RawMessage `json:"input"`
}

// driverConfig is the driver step's configuration, as tasks started
// before store.Task.DeadlineAt carry it: their WithWorkflowTimeout, by the
// starter's clock.
type driverConfig struct {
	Deadline time.Time `json:"deadline,omitzero"`
}

// RegisterWorkflow registers fn as the code-first workflow "namespace/name".
// Start it with StartWorkflow; workers of any process that registered it run
// it.
//
// A malformed name (not "namespace/name", or one the store would not
// accept), a nil fn, an input or result type JSON cannot carry (a func,
// a channel, a complex number, or a type holding one in a field, an
// element or a map key, named by its path) or a bad option (a retention of 0 or negative,
// WithRetention given twice with different values) is refused
// with ErrInvalidTemplate; a name already registered, as a workflow or as
// a DAG template, with ErrDuplicate.
func RegisterWorkflow[I, O any](e *Engine, name string, fn func(wctx *WorkflowContext, in I) (O, error), opts ...WorkflowOption) error {
	if err := checkWorkflowName(name); err != nil {
		return err
	}
	if fn == nil {
		return &TemplateError{Template: name, Msg: fmt.Sprintf("registering workflow %s: the function is nil", quoteName(name))}
	}
	for _, t := range []struct {
		what string
		t    reflect.Type
	}{{"input", reflect.TypeFor[I]()}, {"result", reflect.TypeFor[O]()}} {
		if msg := unencodable(t.t); msg != "" {
			return &TemplateError{Template: name, Msg: fmt.Sprintf("registering workflow %s: its %s type %s", quoteName(name), t.what, msg)}
		}
	}
	def := &workflowDef{name: name, in: reflect.TypeFor[I](), out: reflect.TypeFor[O](), run: func(wctx *WorkflowContext, input store.JSON) (any, error) {
		var wi workflowInput
		var in I
		// A failure fails the workflow (failWith), so that a replay
		// against changed code reports an input it no longer reads.
		if err := json.Unmarshal(input, &wi); err != nil {
			return nil, wctx.failWith(Permanent(fmt.Errorf("decoding input of workflow %s: %w", name, err)))
		}
		if len(wi.Input) > 0 {
			if err := json.Unmarshal(wi.Input, &in); err != nil {
				return nil, wctx.failWith(Permanent(fmt.Errorf("decoding input of workflow %s: %w", name, err)))
			}
		}
		return fn(wctx, in)
	}}
	for _, opt := range opts {
		if opt == nil {
			return &TemplateError{Template: name, Msg: fmt.Sprintf("registering workflow %s: an option is nil", quoteName(name))}
		}
		opt(def)
	}
	if r := def.retentions; len(r) > 1 && slices.ContainsFunc(r, func(d time.Duration) bool { return d != r[0] }) {
		said := make([]string, len(r))
		for i, d := range r {
			said[i] = d.String()
			if d == KeepForever {
				said[i] = "KeepForever"
			}
		}
		return &TemplateError{Template: name, Path: "retention", Msg: fmt.Sprintf("registering workflow %s: WithRetention given %d times, with %s: give one", quoteName(name), len(r), strings.Join(said, ", "))}
	}
	if slices.Contains(def.retentions, 0) {
		// 0 is a template's unset field (the engine's retention); as an
		// option it did nothing, where it reads as "keep nothing".
		return &TemplateError{Template: name, Path: "retention", Msg: fmt.Sprintf("registering workflow %s: WithRetention(0): a retention is at least 1ms, or KeepForever; leave the option out for the engine's (ExecutionConfig.Retention)", quoteName(name))}
	}
	if msg := retentionProblem(def.retention); msg != "" {
		return &TemplateError{Template: name, Path: "retention", Msg: fmt.Sprintf("registering workflow %s: %s", quoteName(name), msg)}
	}
	e.tmu.Lock() // against a template registered under the same name meanwhile
	defer e.tmu.Unlock()
	if _, ok := e.templates[name]; ok {
		return fmt.Errorf("registering workflow %s: %w: a DAG template of that name is registered", name, ErrDuplicate)
	}
	if _, ok := e.workflowDef(name); ok {
		return fmt.Errorf("registering workflow %s: %w: a workflow of that name is registered", name, ErrDuplicate)
	}
	return e.reg.add(WorkflowHandlerPrefix+name, &workflowHandler{e: e, def: def})
}

// checkWorkflowName holds a workflow's name to "namespace/name" and to the
// store's limits on names, including its driver's handler name
// (WorkflowHandlerPrefix + name).
func checkWorkflowName(name string) error {
	bad := func(msg string) error {
		return &TemplateError{Msg: fmt.Sprintf("registering workflow %s: %s", quoteName(name), msg)}
	}
	ns, n, ok := strings.Cut(name, "/")
	if !ok || ns == "" || n == "" || strings.ContainsAny(n, "/@") || strings.Contains(ns, "@") {
		return bad(`the name must be "namespace/name"`)
	}
	for _, f := range []struct{ what, v string }{{"namespace", ns}, {"name", n}} {
		if msg := checkName(f.what, f.v); msg != "" {
			return bad(msg)
		}
	}
	if limit := store.MaxNameLen - len(WorkflowHandlerPrefix); len(name) > limit {
		return bad(fmt.Sprintf("the name is %d bytes long; the limit is %d", len(name), limit))
	}
	return nil
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

// WithWorkflowTimeout fails the task with ErrWorkflowTimeout (a StepError
// of kind workflow_timeout) if it has not finished d after it started. It
// works for DAG tasks and code-first workflows: running steps see their
// context end at the deadline, and no step starts or retries after it; a
// task whose steps no worker claims fails at the first maintenance pass
// after it (ExecutionConfig.RescueInterval; Engine.Rescue at once).
// A d that is not positive is refused (leave the option out for none), so
// is one under a millisecond (a bare number is nanoseconds), and so is one
// that, counted from a delayed start (StartAt, StartAfter), overflows.
func WithWorkflowTimeout(d time.Duration) StartOption {
	return func(o *startOptions) {
		if o.timeoutSet && o.timeout != d {
			o.givenTwice("WithWorkflowTimeout", o.timeout.String(), d.String())
		}
		o.timeout, o.timeoutSet = d, true
	}
}

// WorkflowHandle refers to a started code-first workflow with result type O.
type WorkflowHandle[O any] struct {
	TaskID   int64
	Existing bool // StartWorkflow found the task by its identity
	identity string
	e        *Engine
	kept     *waiters.Slot // see TaskHandle
}

// GetWorkflow returns a handle to an existing workflow task. Its Result
// refuses a DAG task, and, when the workflow is registered in this engine,
// a result type O other than the one it was registered with
// (ErrTypeMismatch). When it is not (a process that reads what workers
// compute), O is checked against the stored result alone: a field of the
// result O does not have, or a value O cannot hold, is ErrTypeMismatch;
// a field of O the result lacks is left zero, as JSON leaves it. An id no
// task can have (0 or negative) is store.ErrInvalid, as Engine.Wait's.
func GetWorkflow[O any](e *Engine, taskID int64) *WorkflowHandle[O] {
	return &WorkflowHandle[O]{TaskID: taskID, e: e}
}

// checkResultType refuses to read a DAG task's outcome, or a workflow's
// with a result type other than the one it was registered with here, as a
// code-first workflow's result of type O.
func checkResultType[O any](e *Engine, out *Outcome) error {
	if out.kind == store.KindDAG {
		return fmt.Errorf("reading the result of task %d: %w: it is a task of the DAG template %s, not a code-first workflow (read it with Engine.Wait)", out.TaskID, ErrTypeMismatch, out.name)
	}
	if def, ok := e.workflowDef(out.name); ok && def.out != reflect.TypeFor[O]() {
		return fmt.Errorf("reading the result of task %d: %w: workflow %s returns %s, not %s", out.TaskID, ErrTypeMismatch, out.name, def.out, reflect.TypeFor[O]())
	}
	return nil
}

// Result waits until the workflow finishes and returns its decoded result,
// or a *TaskError when it failed or was cancelled (errors.Is(err,
// ErrStepFailed), ErrWorkflowTimeout, ErrNonDeterministic, ErrCancelled).
//
// A workflow that continued as new (ContinueAsNew) returns the result of
// the last run of its chain.
func (h *WorkflowHandle[O]) Result(ctx context.Context) (O, error) {
	var zero O
	if err := checkTaskID(h.TaskID); err != nil { // (GetWorkflow's id)
		return zero, fmt.Errorf("waiting for task %d: %w", h.TaskID, err)
	}
	out, err := h.e.wait(ctx, h.TaskID, h.identity, h.kept)
	if err == nil {
		if err = checkResultType[O](h.e, out); err != nil {
			return zero, err
		}
	}
	for err == nil && out.Err() == nil {
		next, ok := continuedAs(out.Results[DriverStep])
		if !ok {
			break
		}
		out, err = h.e.wait(ctx, next, "", nil)
	}
	if err != nil {
		return zero, err
	}
	if err := out.Err(); err != nil {
		return zero, err
	}
	var v O
	if raw, ok := out.Results[DriverStep]; ok {
		if err := decodeResult(h.e, out.name, raw, &v); err != nil {
			return zero, fmt.Errorf("decoding the result of workflow task %d: %w", h.TaskID, err)
		}
	}
	return v, nil
}

// decodeResult decodes workflow's result (its JSON, decoded by the codec
// already) into v. Where the workflow is registered here, checkResultType
// has held v's type to its result type, and the decoding is JSON's own, so
// a result stored before the type lost a field still reads. Elsewhere the
// document is all there is to check against: a field v's type does not
// have, or a value of another kind, is ErrTypeMismatch, where JSON would
// leave v's fields zero and report nothing.
func decodeResult[O any](e *Engine, workflow string, raw []byte, v *O) error {
	if _, ok := e.workflowDef(workflow); ok {
		return json.Unmarshal(raw, v)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: the result of workflow %s does not decode as %s (not registered here, it is checked against the stored result alone): %w",
			ErrTypeMismatch, workflow, reflect.TypeFor[O](), err)
	}
	return nil
}

// StartWorkflow starts the registered workflow name with input in. By
// default the task's identity is a hash of the name and the input, so
// starting the same input twice returns the first task. The StartOptions
// apply as in Start (WithIdempotencyKey, Unique, InTx, WithQueue,
// WithPriority, WithConcurrency, WithWorkflowTimeout, StartAt…): a
// code-first workflow has no template, so its queue is "default", its
// priority 0 and it has no concurrency limit unless they are given.
//
// I and O must be the types the workflow was registered with: other types
// are refused with ErrTypeMismatch before anything is written.
func StartWorkflow[I, O any](ctx context.Context, e *Engine, name string, in I, opts ...StartOption) (*WorkflowHandle[O], error) {
	if def, ok := e.workflowDef(name); ok {
		for _, c := range []struct {
			what      string
			got, want reflect.Type
		}{{"input", reflect.TypeFor[I](), def.in}, {"result", reflect.TypeFor[O](), def.out}} {
			if c.got != c.want {
				return nil, fmt.Errorf("starting %s: %w: its %s type is %s, not %s", name, ErrTypeMismatch, c.what, c.want, c.got)
			}
		}
	}
	s, err := e.startWorkflow(ctx, name, in, opts...)
	if err != nil {
		return nil, err
	}
	return &WorkflowHandle[O]{TaskID: s.id, Existing: s.existing, identity: s.identity, e: e, kept: s.kept}, nil
}

// startWorkflow is StartWorkflow without the types.
func (e *Engine) startWorkflow(ctx context.Context, name string, in any, opts ...StartOption) (started, error) {
	var o startOptions
	if err := applyStartOptions(&o, opts); err != nil {
		return started{}, fmt.Errorf("starting %s: %w", name, err)
	}
	p, err := e.prepareWorkflowStart(name, in, &o)
	if err != nil {
		return started{}, err
	}
	kept := e.waiters.Keep(p.IdentityKey) // before a step can finish
	res, err := e.createReusing(ctx, p, &o)
	if err != nil {
		return started{}, fmt.Errorf("starting %s: %w", name, err)
	}
	return started{id: res.Task.ID, existing: res.Existing, identity: p.IdentityKey, kept: kept}, nil
}

// prepareWorkflowStart validates a start of a code-first workflow and
// returns what to create.
func (e *Engine) prepareWorkflowStart(name string, in any, o *startOptions) (*store.CreateTaskParams, error) {
	def, ok := e.workflowDef(name)
	if !ok {
		if _, err := e.template(name); err == nil {
			return nil, fmt.Errorf("%w: %s is a DAG template: start it with Start", ErrUnknownWorkflow, quoteName(name))
		}
		return nil, fmt.Errorf("%w: %s%s", ErrUnknownWorkflow, quoteName(name), e.didYouMean(name))
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w: %w", name, ErrInvalidInput, err)
	}
	doc, err := normalizeInput(map[string]json.RawMessage{"input": raw})
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w: %w", name, ErrInvalidInput, err)
	}
	stored, err := e.encodeChecked("input", doc) // the bound applies to what is stored
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	identity, inputHash := o.identity(name, name+"@code", doc)
	ns, n, _ := strings.Cut(name, "/")
	queue, priority := o.routing("", 0)
	deadline, err := o.deadline(e.clk)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &store.CreateTaskParams{
		Namespace: ns, Name: n, Version: "code", Kind: store.KindCode,
		IdentityKey: identity, InputHash: inputHash, Context: stored, Priority: priority, Queue: queue, ParentID: o.parent,
		ConcGroup: o.group, ConcMax: o.groupMax, Retention: def.retention, Deadline: deadline,
		Steps: []store.NewStep{{Name: DriverStep, Handler: WorkflowHandlerPrefix + name, Retryable: true, RetryLimit: defaultDriverRetryLimit}},
		Now:   e.now(),
	}
	if err := o.delay(e.clk, p.Steps); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	return p, nil
}

// started is a task Start created or found.
type started struct {
	id       int64
	existing bool
	identity string
	kept     *waiters.Slot
}

// drive is one run of a workflow's driver step.
func (e *Engine) drive(sc *StepContext, def *workflowDef) (any, error) {
	lease, ok := e.inflight.Lease(sc.StepID)
	if !ok {
		return nil, errors.New("workflow driver is not running under a lease")
	}
	wctx, err := e.newWorkflowContext(sc, sc.TaskID, lease, false, sc.firstRun)
	if err != nil {
		return nil, err
	}
	wctx.skew = sc.storeSkew
	if !sc.deadline.IsZero() {
		// By the store's clock, as the workflow's times are (Engine.execute
		// ends the run at it).
		wctx.deadline = sc.deadline
	} else {
		stop, err := e.olderDeadline(sc, wctx)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	out, ferr := runWorkflowFn(wctx, def, sc.input)
	wctx.wg.Wait()
	wctx.stopWith(errRunOver) // unless stopped already, a later call does nothing
	out, ferr = wctx.conclude(out, ferr)
	if ferr == nil {
		wctx.warnUnread()
	}
	sc.records = wctx.takePending() // committed with the driver's outcome (Engine.execute)
	return out, ferr
}

// olderDeadline applies the deadline that a workflow task started before
// store.Task.DeadlineAt carries in its driver's configuration, by the
// starter's clock; stop releases the run's context deadline.
func (e *Engine) olderDeadline(sc *StepContext, wctx *WorkflowContext) (stop func(), err error) {
	var cfg driverConfig
	_ = sc.Config(&cfg)
	wctx.deadline = cfg.Deadline
	if !cfg.Deadline.IsZero() && !e.clk.Now().Before(cfg.Deadline) {
		return nil, Permanent(fmt.Errorf("workflow task %d: %w (deadline %s)", sc.TaskID, ErrWorkflowTimeout, cfg.Deadline.Format(time.RFC3339)))
	}
	if _, wall := e.clk.(clock.Real); wall && !cfg.Deadline.IsZero() { // a context deadline runs on the wall clock
		ctx, cancel := context.WithDeadline(wctx.Context, cfg.Deadline)
		wctx.Context = ctx
		return cancel, nil
	}
	return func() {}, nil
}

// newWorkflowContext loads the history of a workflow task; fresh, when set,
// is the task of a driver's first run, which has none to load.
func (e *Engine) newWorkflowContext(ctx context.Context, taskID int64, lease store.Lease, replay bool, fresh *store.Task) (*WorkflowContext, error) {
	d := &store.TaskDetail{Task: fresh}
	if fresh == nil {
		var err error
		if d, err = e.st.GetWorkflowHistory(ctx, taskID); err != nil {
			return nil, fmt.Errorf("loading the history of workflow task %d: %w", taskID, err)
		}
	}
	w := &WorkflowContext{Context: ctx, TaskID: taskID, Workflow: d.Task.Namespace + "/" + d.Task.Name, queue: d.Task.Queue, version: d.Task.Version, e: e, lease: lease, replay: replay,
		history: map[int]*store.Step{}}
	w.Logger = e.log.With(zap.Int64("task_id", taskID), zap.String("workflow", w.Workflow))
	if e.codec != nil { // the replay path: nothing to do without a codec
		if err := e.decodeAll(d.Steps); err != nil {
			return nil, Permanent(fmt.Errorf("loading the history of workflow task %d: %w", taskID, err))
		}
	}
	for _, s := range d.Steps {
		if s.Sequence != nil {
			w.history[*s.Sequence] = s
			w.last = max(w.last, *s.Sequence)
		}
	}
	return w, nil
}

func runWorkflowFn(wctx *WorkflowContext, def *workflowDef, input store.JSON) (any, error) {
	r := attempt.Run(wctx.Context, 0, func(context.Context) (any, error) { return def.run(wctx, input) })
	return r.Value, attemptErr(r)
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
		return nil, &suspendSignal{after: max(until.Sub(w.now()), 0), events: w.wakeOn, tasks: w.wakeOnTask, why: w.why, system: w.system}
	case w.continued != nil:
		// ContinueAsNew created the next run: this one ends continued by
		// it, also when the function dropped the error and returned
		// something else (the next run runs whatever this one returns).
		if _, ok := continuation(ferr); !ok {
			w.Logger.Warn("the workflow function did not return ContinueAsNew's error; the run ends continued as new all the same",
				zap.Int64("next_task_id", w.continued.Next), zap.NamedError("returned", ferr))
		}
		next, _ := continuation(w.continued)
		return next, nil
	case ferr != nil:
		if next, ok := continuation(ferr); ok { // ContinueAsNew: this run completes
			return next, nil
		}
		var re *RetryableError
		var pe *PanicError
		if errors.As(ferr, &re) || errors.As(ferr, &pe) {
			return nil, ferr
		}
		return nil, Permanent(ferr)
	case w.last > w.seq:
		seq, rec := w.nextRecorded()
		name, kind := recordedName(rec)
		return nil, Permanent(&NonDeterminismError{TaskID: w.TaskID, Sequence: seq, Recorded: describe(name, kind)})
	}
	if next, ok := readsAsContinuation(out); ok {
		// Recorded, the task read as continued by task next, whose
		// result Result returned as this one's.
		return nil, Permanent(fmt.Errorf("workflow task %d returned {%q: %d}, which reads as a continuation by task %d (ContinueAsNew's record): return another value", w.TaskID, continuedKey, next, next))
	}
	return out, nil
}

// readsAsContinuation reports whether a workflow's return value would be
// recorded as a continuation's (continuedAs): a map of the one key
// continuedKey, or such JSON. Other values are not encoded to find out.
func readsAsContinuation(out any) (int64, bool) {
	if raw, ok := out.(json.RawMessage); ok {
		return continuedAs(raw)
	}
	v := reflect.ValueOf(out)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if v.Kind() != reflect.Map || v.Len() != 1 {
		return 0, false
	}
	doc, err := json.Marshal(out)
	if err != nil {
		return 0, false
	}
	return continuedAs(doc)
}

// nextRecorded is the first recorded operation after the code's last, when
// the history goes on past it (w.last > w.seq): the sequence right after
// may be a gap, a Go future that took its number and suspended before it
// recorded anything. Called with w.mu held, or once the run is over.
func (w *WorkflowContext) nextRecorded() (int, *store.Step) {
	seq := w.seq + 1
	for w.history[seq] == nil {
		seq++
	}
	return seq, w.history[seq]
}

// unencodable says why JSON cannot carry values of type t ("" when it
// can): encoding/json refuses a func, a channel, a complex number or an
// unsafe pointer (behind pointers too) whatever its value, so a workflow
// or step with such a type could only fail, after its work was done. So
// does it one held in t — a struct's field (always encoded), a slice's or
// map's elements (carried only while there are none), a map key that is
// not a string, an integer or a TextMarshaler — and the message names the
// path to it. What JSON skips (an unexported field, json:"-", omitzero,
// an omitempty pointer, slice or map) or encodes itself (a Marshaler) is
// not looked into.
func unencodable(t reflect.Type) string {
	// Looked up: Step asks at every call, and a type's answer never
	// changes (the types of a program are finite).
	if v, ok := unencodableTypes.Load(t); ok {
		return v.(string)
	}
	msg := unencodableOf(t)
	unencodableTypes.Store(t, msg)
	return msg
}

// unencodableTypes keeps unencodable's answers by type.
var unencodableTypes sync.Map

// unencodableOf is unencodable, worked out.
func unencodableOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if msg := unencodableKind(t); msg != "" {
		return fmt.Sprintf("%s cannot be carried as JSON (%s)", t, msg)
	}
	if path, inner, msg := unencodableIn(t, "", map[reflect.Type]bool{}); msg != "" {
		return fmt.Sprintf("%s cannot be carried as JSON: its %s is a %s (%s)", t, path, inner, msg)
	}
	return ""
}

// unencodableKind says why encoding/json refuses every value of t's kind.
func unencodableKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer:
		return fmt.Sprintf("encoding/json refuses a %s", t.Kind())
	}
	return ""
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// marshalsItself reports whether t (or *t) encodes itself.
func marshalsItself(t reflect.Type) bool {
	for _, m := range []reflect.Type{jsonMarshaler, textMarshaler} {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return true
		}
	}
	return false
}

// unencodableIn finds a type JSON cannot carry within t (see unencodable):
// its path from t (path+".Field", "[i]", "[k]", "[key]"), the type, and why; seen
// ends recursive types.
func unencodableIn(t reflect.Type, path string, seen map[reflect.Type]bool) (string, reflect.Type, string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if seen[t] || marshalsItself(t) {
		return "", nil, ""
	}
	if path != "" {
		if msg := unencodableKind(t); msg != "" {
			return path, t, msg
		}
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return unencodableIn(t.Elem(), path+"[i]", seen)
	case reflect.Map:
		switch k := t.Key(); {
		case k.Kind() == reflect.String, k.Kind() >= reflect.Int && k.Kind() <= reflect.Uintptr, marshalsItself(k):
		default:
			return path + "[key]", k, "encoding/json refuses a map key that is not a string, an integer or an encoding.TextMarshaler"
		}
		return unencodableIn(t.Elem(), path+"[k]", seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if name == "-" && opts == "" || !f.IsExported() && !(f.Anonymous && ft.Kind() == reflect.Struct) {
				continue // (an unexported embedded struct's fields are promoted)
			}
			skippable := slices.Contains(strings.Split(opts, ","), "omitzero") ||
				slices.Contains(strings.Split(opts, ","), "omitempty") && slices.Contains([]reflect.Kind{reflect.Pointer, reflect.Slice, reflect.Map}, f.Type.Kind())
			if skippable {
				continue
			}
			sub := path
			if !f.Anonymous || name != "" {
				sub += "." + f.Name
			}
			if p, inner, msg := unencodableIn(f.Type, sub, seen); msg != "" {
				return p, inner, msg
			}
		}
	}
	return "", nil, ""
}
