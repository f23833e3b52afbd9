package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

// continuedKey marks a driver result that is not the workflow's return
// value but the task that continues it (ContinueAsNew).
const continuedKey = "tasker_continued_as_new"

// continuedFromKey is the key of a continuation's input document that
// names the run it continues.
const continuedFromKey = "continued_from"

// continueKey is the idempotency key of the run that continues task id:
// it is created once, and found (nextRunOf) before id has finished. A
// Start may not take such a key (startOptions.check).
func continueKey(id int64) string { return fmt.Sprintf("continue-of-%d", id) }

// isContinueKey reports whether key is one continueKey makes, which a
// Start's WithIdempotencyKey may not take.
func isContinueKey(key string) bool {
	n, ok := strings.CutPrefix(key, "continue-of-")
	id, err := strconv.ParseInt(n, 10, 64)
	return ok && err == nil && continueKey(id) == key
}

// nextRunOf is the run that continues the code-first task t as new, once
// ContinueAsNew has created it (0: none yet), read through st (a
// transaction's view, say).
func nextRunOf(ctx context.Context, st store.Store, t *store.Task) (int64, error) {
	o := startOptions{key: continueKey(t.ID)}
	identity, _ := o.identity(t.Namespace+"/"+t.Name, "", nil)
	next, err := st.GetTaskByIdentity(ctx, identity)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return next.ID, nil
}

// ContinuedError is what ContinueAsNew returns: return it from the
// workflow function to end this run. Next is the task of the next run.
type ContinuedError struct {
	TaskID int64 // this run
	Next   int64 // the run that continues it
}

func (e *ContinuedError) Error() string {
	return fmt.Sprintf("workflow task %d continued as new as task %d", e.TaskID, e.Next)
}

// ContinueAsNew starts the next run of this workflow with input and returns
// a *ContinuedError; return it from the workflow function, which ends this
// run: its task completes, and the workflow carries on in a new task whose
// history starts empty. A workflow that loops for months calls it every so
// many iterations, so no run's history, and no replay, grows without
// bound. The runs form a chain linked both ways (Engine.Runs): the next run
// is created once whatever happens to this one (its identity derives from
// this task), inherits its queue, priority, concurrency group
// (WithConcurrency) and parent (a parent's Child waits for the last run),
// and gets no WithWorkflowTimeout of its own. Events sent to this run and
// not read by it go to the next run (but for one the next run received
// already, the same name and key), which reads them.
// WorkflowHandle.Result and Child follow the chain to the last run's
// result; Engine.Wait reports each run's own outcome.
//
// input must have the workflow's input type (else ErrTypeMismatch, which
// fails the workflow). Called where the recorded history goes on (code
// changed to continue earlier), it fails the workflow with a
// *NonDeterminismError, as Replay reports it. Futures started with Go
// should be awaited first. Once it has returned a *ContinuedError the run
// ends continued, even if the function drops the error and returns
// something else, and durable operations called after it return that
// error, doing nothing. The run's record is {"tasker_continued_as_new":
// NEXT}: a workflow returning a value recorded so (a map of that one key)
// fails, and Engine.Resolve refuses it as a driver's results.
func ContinueAsNew(wctx *WorkflowContext, input any) error {
	mustContext(wctx, "engine.ContinueAsNew")
	w := wctx
	w.mu.Lock()
	stop, next, misplaced := w.stop, w.seq+1, w.misplaced("engine.ContinueAsNew")
	var rec *store.Step // the next one recorded, if the recorded run went on past here
	for ; rec == nil && next <= w.last; next++ {
		rec = w.history[next] // (nil: a future's gap)
	}
	w.mu.Unlock()
	switch {
	case stop != nil:
		return stop
	case misplaced != nil: // as begin refuses it
		return w.failWith(misplaced)
	case rec != nil:
		// Continuing would leave what the recorded run did since behind.
		name, kind := recordedName(rec)
		return w.failWith(&NonDeterminismError{TaskID: w.TaskID, Sequence: next - 1, Recorded: describe(name, kind), New: "ContinueAsNew"})
	case w.replay:
		return w.stopWith(errReplayEnd) // Replay starts nothing
	}
	if err := w.flushPending(); err != nil { // before the next run exists
		return err
	}
	def, ok := w.e.workflowDef(w.Workflow)
	if !ok {
		return w.abortWith(fmt.Errorf("continuing workflow task %d: %w: %s", w.TaskID, ErrUnknownWorkflow, quoteName(w.Workflow)))
	}
	if got := reflect.TypeOf(input); got == nil && !nilable(def.in) || got != nil && !got.AssignableTo(def.in) {
		return w.failWith(Permanent(fmt.Errorf("continuing %s as new: %w: its input type is %s, not %v", w.Workflow, ErrTypeMismatch, def.in, got)))
	}
	ctx := context.WithoutCancel(w.Context)
	d, err := w.e.st.GetTask(ctx, w.TaskID)
	if err != nil {
		return w.abortWith(fmt.Errorf("continuing workflow task %d: %w", w.TaskID, err))
	}
	prio := d.Task.Priority
	o := startOptions{key: continueKey(w.TaskID), queue: d.Task.Queue, priority: &prio, parent: d.Task.ParentID}
	if s := d.Step(DriverStep); s != nil && s.ConcGroup != nil { // its WithConcurrency (kept by the steps alone)
		o.group, o.groupMax = *s.ConcGroup, s.ConcMax
	}
	p, err := w.e.prepareWorkflowStart(w.Workflow, input, &o)
	if err == nil {
		p.Context, err = withContinuedFrom(p.Context, w.TaskID)
	}
	if err != nil {
		return w.failWith(Permanent(fmt.Errorf("continuing %s as new: %w", w.Workflow, err)))
	}
	ctx, span := w.e.traceStart(ctx, p) // under this run's span
	res, err := w.e.st.CreateTask(ctx, p)
	endStart(span, res, err)
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrInvalid):
		return w.failWith(Permanent(fmt.Errorf("continuing %s as new: %w", w.Workflow, err)))
	case err != nil:
		return w.abortWith(fmt.Errorf("continuing %s as new: %w", w.Workflow, err))
	}
	w.e.announce([]*store.CreateTaskResult{res}) // counted, reported and woken as any start's, unless it existed
	// A Cancel of this run that committed before the next run existed did
	// not find it (Cancel reads after its commit, this after the create's:
	// one of the two sees the other): the next run is cancelled with this
	// one, and this run ends cancelled, as its caller was told.
	// (Its state alone, one row: the run is read whole above.)
	if cur, err := w.e.outcome(ctx, w.TaskID); err != nil {
		return w.abortWith(fmt.Errorf("continuing workflow task %d: %w", w.TaskID, err))
	} else if cur.State == store.TaskCancelled {
		if err := w.e.cancelSuccessor(ctx, d.Task, ""); err != nil {
			w.e.log.Warn("cancelling the next run of a cancelled run failed", zap.Int64("task_id", w.TaskID), zap.Int64("next", res.Task.ID), zap.Error(err))
		}
		return w.abortWith(fmt.Errorf("continuing workflow task %d: %w", w.TaskID, errTaskCancelled))
	}
	// The events this run accepted and did not read are the workflow's:
	// the next run reads them (this one reads none any more).
	moved, err := w.e.st.MoveEvents(ctx, &store.MoveEventsParams{From: w.TaskID, To: res.Task.ID})
	if err != nil {
		return w.abortWith(fmt.Errorf("continuing %s as new: %w", w.Workflow, err))
	}
	if moved > 0 {
		// A next run already waiting (claimed at once, eagerly) is
		// suspended until its events arrive: they have.
		if _, err := w.e.st.WakeTask(ctx, &store.WakeTaskParams{TaskID: res.Task.ID, Now: w.e.now()}); err != nil {
			return w.abortWith(fmt.Errorf("continuing %s as new: %w", w.Workflow, err))
		}
		w.e.Notify()
	}
	// The next run exists: this one ends, continued by it, whatever the
	// function returns now (see conclude), and nothing durable happens
	// in it any more.
	c := &ContinuedError{TaskID: w.TaskID, Next: res.Task.ID}
	w.mu.Lock()
	w.continued = c
	if w.stop == nil {
		w.stop = c
	}
	w.mu.Unlock()
	return c
}

func withContinuedFrom(doc store.JSON, from int64) (store.JSON, error) {
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	m[continuedFromKey] = json.RawMessage(fmt.Sprint(from))
	return json.Marshal(m)
}

// continuation turns a workflow function's ContinuedError into the
// driver's result (see conclude).
func continuation(ferr error) (any, bool) {
	var c *ContinuedError
	if !errors.As(ferr, &c) {
		return nil, false
	}
	return map[string]int64{continuedKey: c.Next}, true
}

// continuedAs reads a driver result: the next run's task, if it is a
// continuation.
func continuedAs(raw []byte) (int64, bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return 0, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) != 1 {
		return 0, false
	}
	var next int64
	if v, ok := m[continuedKey]; !ok || json.Unmarshal(v, &next) != nil || next <= 0 {
		return 0, false
	}
	return next, true
}

// RunLinks say how a workflow task is chained to others by ContinueAsNew.
type RunLinks struct {
	ContinuedFrom int64 // the run this one continues (0: the first)
	// ContinuedAs is the run that continues this one, from the moment
	// ContinueAsNew created it, before this one has ended (0: none yet).
	ContinuedAs int64
	// Last is the chain's last run, where the workflow is now (this run
	// when none continues it): where to send its events or cancel it.
	Last int64
}

// Runs returns a code-first task's links in its ContinueAsNew chain.
func (e *Engine) Runs(ctx context.Context, taskID int64) (RunLinks, error) {
	if err := checkTaskID(taskID); err != nil {
		return RunLinks{}, fmt.Errorf("reading the runs of task %d: %w", taskID, err)
	}
	d, err := e.st.GetTask(ctx, taskID)
	if err != nil {
		return RunLinks{}, fmt.Errorf("reading the runs of task %d: %w", taskID, err)
	}
	if d.Task.Kind != store.KindCode {
		return RunLinks{}, fmt.Errorf("reading the runs of task %d: %w: not a code-first workflow", taskID, store.ErrInvalid)
	}
	var r RunLinks
	var in map[string]json.RawMessage
	if doc, err := e.decode(d.Task.Context); err != nil {
		return RunLinks{}, fmt.Errorf("reading the runs of task %d: %w", taskID, err)
	} else if json.Unmarshal(doc, &in) == nil {
		_ = json.Unmarshal(in[continuedFromKey], &r.ContinuedFrom)
	}
	if r.ContinuedAs, err = e.nextRun(ctx, e.st, d); err != nil {
		return RunLinks{}, fmt.Errorf("reading the runs of task %d: %w", taskID, err)
	}
	r.Last = taskID
	// The runs after the next are found by their identity alone (one row
	// each, as nextRunOf finds a run's next): reading each whole, its
	// steps and their results, made Runs of a long chain cost the sum of
	// every run's history.
	for next := r.ContinuedAs; next != 0; {
		r.Last = next
		if next, err = nextRunOf(ctx, e.st, &store.Task{ID: next, Namespace: d.Task.Namespace, Name: d.Task.Name}); err != nil {
			return RunLinks{}, fmt.Errorf("reading the runs of task %d: %w", taskID, err)
		}
	}
	return r, nil
}

// nextRun is the run that continues a code-first task (0: none), from
// the moment ContinueAsNew created it, read through st: a run that has
// not ended yet refuses events already (its unread ones have moved), so
// Runs must not call it the last. Nor a run that ended otherwise than
// continued with a next run created (cancelled while it continued: see
// cancelSuccessor; resolved by hand before Resolve refused that): its
// next run is still the chain's.
func (e *Engine) nextRun(ctx context.Context, st store.Store, d *store.TaskDetail) (int64, error) {
	next, err := e.continuedAsOf(d)
	if err != nil || next != 0 || d.Task.Kind != store.KindCode || d.Task.State == store.TaskComplete {
		// (A complete run that did not continue has no next run: only
		// a continued one completes once its next run exists.)
		return next, err
	}
	return nextRunOf(ctx, st, d.Task)
}

// continuedAsOf is the run that continues a code-first task (0: none).
func (e *Engine) continuedAsOf(d *store.TaskDetail) (int64, error) {
	s := d.Step(DriverStep)
	if d.Task.Kind != store.KindCode || s == nil || s.State != store.StepComplete {
		return 0, nil
	}
	doc, err := e.decode(s.Results)
	if err != nil {
		return 0, err
	}
	next, _ := continuedAs(doc)
	return next, nil
}

func nilable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		return true
	}
	return false
}
