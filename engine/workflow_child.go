package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

// kindChild marks a durable row that waits for a child workflow.
const kindChild = "workflow.child"

// childRecheck is how often a parent waiting for a child looks again. It is
// only a safety net: the transaction that finishes a child also wakes its
// parent, in any process.
const childRecheck = 5 * time.Minute

// childResult is what a parent records when its child finishes.
type childResult struct {
	TaskID int64           `json:"task_id"`
	State  store.TaskState `json:"state"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// Child starts workflow — a registered code-first workflow or a DAG
// template — as a child of this one, and waits for it durably: the wait
// survives restarts and releases the worker meanwhile. The child's identity
// derives from the parent and the call's place in it, so a replay never
// starts a second child.
//
// The child runs on the parent's queue, unless it is a DAG template with a
// Queue of its own: it runs there. The result decodes the child's
// return value (code-first) or its step results by step name (DAG). A
// child that fails or is cancelled returns a *TaskError, which the parent
// may handle or return. An input or a result type O other than those a
// code-first child was registered with (ErrTypeMismatch, as StartWorkflow
// refuses them), an O that cannot hold a DAG child's results by step name
// (an int, a slice), or a workflow name too long for the call's record
// (over 243 bytes, as a DAG template's "namespace/name" may be) fails the
// workflow before the child starts.
//
// A parent cannot finish before its children (Child returns once the
// child has): one that ends otherwise — cancelled, failed, past its
// WithWorkflowTimeout, resolved by hand — cancels its unfinished
// children, and theirs. When the process ending it dies first, the
// maintenance leader's next pass cancels them once the parent has ended
// for good (cancelled, resolved; complete): a parent in error may be
// retried and read them, and the pass leaves them be — a child an
// operator retried by hand among them. A child that failed stays as it
// is, for the record.
func Child[O any](wctx *WorkflowContext, workflow string, input any) (O, error) {
	mustContext(wctx, "engine.Child")
	var zero O
	seq, rec, err := wctx.begin(workflow, kindChild)
	if err != nil {
		return zero, err
	}
	if rec == nil {
		// Its record is named after the workflow: one the store would
		// refuse failed every attempt to record it, the child started.
		if workflow == "" { // (durableNameProblem would name a step)
			return zero, wctx.failWith(Permanent(errors.New(`engine.Child: the workflow name is empty: name a registered workflow or DAG template ("namespace/name")`)))
		}
		if msg := durableNameProblem(workflow, false); msg != "" {
			return zero, wctx.failWith(Permanent(fmt.Errorf("engine.Child: %s", msg)))
		}
		// No workflow or template registers with such a name: it was
		// refused as unknown ("did you mean"), the spaces unnamed.
		if msg := spacesAround("workflow name", workflow); msg != "" {
			return zero, wctx.failWith(Permanent(fmt.Errorf("engine.Child: %s", msg)))
		}
	}
	if rec == nil || !rec.State.Satisfied() {
		if err := childTypes[O](wctx.e, workflow, input); err != nil {
			return zero, wctx.failWith(Permanent(err))
		}
		if rec, err = wctx.awaitChild(seq, rec, workflow, input); err != nil || rec == nil {
			return zero, err
		}
	}
	var r childResult
	if err := json.Unmarshal(rec.Results, &r); err != nil {
		return zero, wctx.failWith(Permanent(fmt.Errorf("decoding the recorded child %s (sequence %d): %w", workflow, seq, err)))
	}
	if err := (&Outcome{TaskID: r.TaskID, State: r.State, Error: r.Error}).Err(); err != nil {
		return zero, err
	}
	return decodeAs[O](wctx, seq, "result of child "+strconv.Quote(workflow), r.Result)
}

// childTypes refuses an input or a result type other than those a
// code-first child was registered with, as StartWorkflow does, and a
// result type that cannot hold a DAG child's results by step name: the
// child would fail decoding its input, or the parent decoding its result.
func childTypes[O any](e *Engine, workflow string, input any) error {
	def, ok := e.workflowDef(workflow)
	if !ok {
		if _, err := e.template(workflow); err == nil && !holdsObject(reflect.TypeFor[O]()) {
			return fmt.Errorf("engine.Child(%q): %w: a DAG child's result is its steps' results by step name (a JSON object), which %s cannot hold", workflow, ErrTypeMismatch, reflect.TypeFor[O]())
		}
		return nil // a DAG template, or none (Start says so)
	}
	if got := reflect.TypeOf(input); got == nil && !nilable(def.in) || got != nil && !got.AssignableTo(def.in) {
		return fmt.Errorf("engine.Child(%q): %w: its input type is %s, not %v", workflow, ErrTypeMismatch, def.in, got)
	}
	if got := reflect.TypeFor[O](); got != def.out {
		return fmt.Errorf("engine.Child(%q): %w: its result type is %s, not %s", workflow, ErrTypeMismatch, def.out, got)
	}
	return nil
}

// holdsObject reports whether a JSON object decodes into a t.
func holdsObject(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return true
	}
	switch t.Kind() {
	case reflect.Map, reflect.Struct, reflect.Interface:
		return true
	}
	return false
}

// awaitChild starts the child (idempotently) and records its outcome once
// it has finished; until then it suspends the parent and returns nil.
func (w *WorkflowContext) awaitChild(seq int, rec *store.Step, workflow string, input any) (*store.Step, error) {
	e := w.e
	ctx := context.WithoutCancel(w.Context)
	opts := []StartOption{WithIdempotencyKey(fmt.Sprintf("child-of-%d-at-%d", w.TaskID, seq)), withParent(w.TaskID)}
	_, code := e.workflowDef(workflow)
	// A template that names its queue runs there (its handlers' workers
	// serve it, maybe that queue alone); any other child, on the parent's.
	if t, err := e.template(workflow); w.queue != "" && (code || err != nil || t.Queue == "") { // (WithQueue("") is refused)
		opts = append(opts, WithQueue(w.queue))
	}
	var childID int64
	var err error
	if code {
		var s started
		s, err = e.startWorkflow(ctx, workflow, input, opts...)
		childID = s.id
	} else {
		var h *TaskHandle
		if h, err = e.Start(ctx, workflow, input, opts...); err == nil {
			childID = h.TaskID
		}
	}
	switch {
	case errors.Is(err, ErrUnknownTemplate), errors.Is(err, ErrInvalidInput), errors.Is(err, ErrPayloadTooLarge), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrInvalid):
		return nil, w.failWith(Permanent(fmt.Errorf("starting child %s: %w", workflow, err)))
	case err != nil:
		return nil, w.abortWith(fmt.Errorf("starting child %s: %w", workflow, err))
	}
	p := store.RecordStepParams{Sequence: seq, Name: workflow, Handler: kindChild, Kind: store.OutcomeSuspend, RetryAfter: childRecheck}
	if rec == nil {
		if rec, err = w.record(p); err != nil {
			return nil, err
		}
	}
	d, err := e.getDecoded(ctx, childID)
	for err == nil && d.Task.Kind == store.KindCode && d.Task.State == store.TaskComplete {
		next, ok := continuedAs(d.Step(DriverStep).Results) // the child continued as new: wait for its last run
		if !ok {
			break
		}
		childID = next
		d, err = e.getDecoded(ctx, childID)
	}
	if err != nil {
		return nil, w.abortWith(fmt.Errorf("reading child task %d: %w", childID, err))
	}
	if !d.Task.State.Done() {
		w.mu.Lock()
		w.wakeOnTask = append(w.wakeOnTask, childID)
		w.mu.Unlock()
		return nil, w.suspend(w.now().Add(childRecheck), "child "+workflow)
	}
	r := childResult{TaskID: childID, State: d.Task.State, Error: json.RawMessage(d.Task.LastError)}
	if d.Task.Kind == store.KindCode {
		if s := d.Step(DriverStep); s != nil {
			r.Result = json.RawMessage(s.Results)
		}
	} else {
		results := map[string]json.RawMessage{}
		for _, s := range d.Steps {
			if len(s.Results) > 0 {
				results[s.Name] = json.RawMessage(s.Results)
			}
		}
		r.Result, _ = json.Marshal(results)
	}
	p.Kind, p.Results = store.OutcomeComplete, store.MustJSON(r)
	since := rec.CreatedAt
	if rec, err = w.record(p); err == nil {
		w.traceWait("tasker.child "+workflow, seq, since, (&Outcome{TaskID: r.TaskID, State: r.State, Error: r.Error}).Err())
	}
	return rec, err
}

// closeChildren cancels the unfinished children (and theirs) of code-first
// tasks that failed — their workflow's error, their WithWorkflowTimeout,
// their driver out of attempts — as Cancel cancels a cancelled task's: no
// one is left to read a child's result, and a child started by Child runs
// for its parent only (Temporal's default parent-close policy). It runs
// in the process that committed the failure — its completer, or the
// rescue that swept the parent's deadline — after that commit, on the
// closer's goroutine (closer.go), not theirs. The children a process that died in between left running are
// no orphans while the parent is in error (a retry of it reads them); the
// maintenance leader's pass cancels them once the parent has ended for
// good (cancelOrphans).
func (e *Engine) closeChildren(parents []int64) {
	for _, id := range parents {
		if err := e.cancelChildren(context.Background(), id, parentEnded(id, store.TaskError, "")); err != nil {
			// Not orphans while the task is in error (cancelOrphans):
			// nothing else cancels them until it is retried or resolved.
			e.log.Warn("cancelling the children of a failed task failed: they run on, read by the task's retry; the maintenance pass cancels them once it has ended for good (resolved)",
				zap.Int64("task_id", id), zap.Error(err))
		}
	}
}

// cancelOrphans is the maintenance pass's hook: it cancels unfinished
// children (and theirs) whose parent ended for good — cancelled, resolved
// by hand, complete — without the process that ended it cancelling them,
// with the reason that process would have given, and returns how many it
// cancelled (one another process cancelled meanwhile counts: it is gone).
func (e *Engine) cancelOrphans(ctx context.Context, orphans []store.Orphan) int {
	n := 0
	for _, o := range orphans {
		err := e.Cancel(ctx, o.ID, parentEnded(o.ParentID, o.ParentState, ""))
		if errors.Is(err, ErrRefused) {
			continue // continuing as new: it ends so, and its next run is an orphan too
		}
		if err != nil && !errors.Is(err, store.ErrIllegalTransition) && !errors.Is(err, store.ErrConflict) {
			e.log.Warn("cancelling the child of an ended task failed: the next pass tries again", zap.Int64("task_id", o.ID), zap.Int64("parent_id", o.ParentID), zap.Error(err))
			continue
		}
		n++
	}
	return n
}

// parentEnded is the reason a child is cancelled with because its parent
// ended: it names the parent and the state it ended in, then why, when
// that is known ("its parent, task 7, ended in state cancelled: no longer
// needed"). A grandchild's names the child, and the child's reason after
// it: the chain reads down to where the cancel began.
func parentEnded(parent int64, state store.TaskState, why string) string {
	s := fmt.Sprintf("its parent, task %d, ended in state %s", parent, state)
	if why != "" {
		s += ": " + why
	}
	return s
}

// cancelChildren cancels the unfinished children of a task, and theirs,
// with reason (see parentEnded). Every child is tried: one whose cancel
// fails does not leave the others running; the failures are joined.
func (e *Engine) cancelChildren(ctx context.Context, parent int64, reason string) error {
	var before int64
	var errs []error
	for {
		page, err := e.st.ListTasks(ctx, &store.ListTasksParams{ParentID: &parent, Before: before, Limit: 500,
			States: []store.TaskState{store.TaskPending, store.TaskInProgress, store.TaskError}})
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("listing children of task %d: %w", parent, err))...)
		}
		for _, c := range page.Tasks {
			if c.State == store.TaskError {
				continue // a failed child stays as it is, for the record
			}
			// A run continuing as new is refused (ErrRefused): it ends
			// continued, and its next run, a child too, is cancelled.
			if err := e.Cancel(ctx, c.ID, reason); err != nil && !errors.Is(err, store.ErrIllegalTransition) && !errors.Is(err, store.ErrConflict) && !errors.Is(err, ErrRefused) {
				errs = append(errs, err)
			}
		}
		if page.NextCursor == 0 {
			return errors.Join(errs...)
		}
		before = page.NextCursor
	}
}
