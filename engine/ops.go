package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

// CancelOption adjusts Cancel.
type CancelOption func(*store.CancelTaskParams)

// checkTaskID refuses a task id no task can have (0 or negative) at the
// engine's border, before the store is asked: the caller's mistake is
// ErrInvalid naming the id, not ErrNotFound. Only the public methods call
// it; ids the store handed out need no check.
func checkTaskID(taskID int64) error { return store.CheckTaskID("task_id", taskID) }

// Force lets Cancel withdraw a task that already finished (complete or
// resolved manually): an operator's correction, recorded as such. The
// task's run had ended: no second span of it is emitted, and it is not
// counted in tasks_cancelled_total (its end was counted when it finished).
func Force() CancelOption { return func(p *store.CancelTaskParams) { p.Force = true } }

// Cancel cancels a task: its unfinished steps are cancelled, running
// handlers here see their context cancelled, and no new attempt starts.
// Handlers in other processes stop at their next heartbeat. A finished
// task (complete, resolved manually) is refused unless Force is given; a
// task in error is refused even then (Retry it, or Resolve its failed
// steps; a code-first workflow is closed by resolving its DriverStep), and
// so is a code-first run that continued as new, or whose next run exists
// while it ends (ErrRefused, naming the chain's last run, where the
// workflow goes on). Its unfinished children (code-first workflows
// started by Child) are cancelled with it, and theirs, each with a reason
// naming its parent: "its parent, task 7, ended in state cancelled: " and
// then reason. A code-first run that calls ContinueAsNew while it is
// being cancelled is cancelled, and so is the next run it created, with a
// reason naming the run it continues: the workflow ends cancelled, as
// Cancel reported (a run that continued before Cancel read it is refused,
// as above).
func (e *Engine) Cancel(ctx context.Context, taskID int64, reason string, opts ...CancelOption) error {
	if err := checkTaskID(taskID); err != nil {
		return fmt.Errorf("cancelling task %d: %w", taskID, err)
	}
	if strings.IndexByte(reason, 0) >= 0 {
		// Recorded in the transition's metadata, which the store refuses
		// with a NUL ("metadata: contains a NUL character").
		return fmt.Errorf("cancelling task %d: %w: the reason %s contains a NUL byte", taskID, store.ErrInvalid, quoteName(reason))
	}
	if !utf8.ValidString(reason) {
		// JSON would record it with U+FFFD in place of the bad bytes.
		return fmt.Errorf("cancelling task %d: %w: the reason %q is not UTF-8", taskID, store.ErrInvalid, reason)
	}
	p := &store.CancelTaskParams{TaskID: taskID, Now: e.now()}
	for i, o := range opts {
		if o == nil {
			return fmt.Errorf("cancelling task %d: %w: cancel option %d (counting from 0) is nil", taskID, store.ErrInvalid, i)
		}
	}
	for _, o := range opts {
		o(p)
	}
	m := map[string]any{"reason": reason}
	if p.Force {
		m["forced"] = true
	}
	var err error
	if p.Metadata, err = operatorMeta(ctx, m); err != nil {
		return fmt.Errorf("cancelling task %d: %w", taskID, err)
	}
	// A forced cancel of a finished task: its run ended, and its span and
	// its count (tasks_completed_total, say) with it. A task unfinished when
	// read is cancelled unforced, so that one finishing meanwhile is told
	// apart: refused, then cancelled as the finished task it has become.
	forced, ended := p.Force, false
	if d, err := e.st.GetTask(ctx, taskID); err == nil { // (an error is CancelTask's to report)
		if err := e.refuseContinued(ctx, d); err != nil {
			return fmt.Errorf("cancelling task %d: %w", taskID, err)
		}
		if forced {
			ended = d.Task.State.Terminal()
			p.Force = ended
		}
	}
	t, err := e.st.CancelTask(ctx, p)
	if errors.Is(err, store.ErrIllegalTransition) { // finished (meanwhile): continued?
		if d, gerr := e.st.GetTask(ctx, taskID); gerr == nil {
			if rerr := e.refuseContinued(ctx, d); rerr != nil {
				return fmt.Errorf("cancelling task %d: %w", taskID, rerr)
			}
			if d.Task.Kind == store.KindCode && d.Task.State == store.TaskError {
				// Its failed steps are the workflow's own to replay: the
				// way to close it is to give its result.
				err = fmt.Errorf("%w; a code-first workflow in error is closed by resolving its driver step (Resolve with DriverStep, %q) with its result", err, DriverStep)
			}
		}
	}
	if forced && !p.Force && errors.Is(err, store.ErrIllegalTransition) {
		p.Force, ended = true, true
		t, err = e.st.CancelTask(ctx, p)
	}
	if err != nil {
		return fmt.Errorf("cancelling task %d: %w", taskID, err)
	}
	if !ended {
		e.met.taskCancelled(t)
		if t.TraceContext != "" {
			e.traceTaskEnd(ctx, t, store.TaskCancelled, nil)
		}
	}
	e.inflight.CancelTask(taskID, errTaskCancelled)
	e.emit(Event{Name: EventTaskCancelled, TaskID: taskID})
	e.taskChanged(taskID)
	// A ContinueAsNew that created the next run after the check above,
	// before this cancel committed: the workflow would go on there while
	// its caller was told it was cancelled. Read after the commit, the
	// next run is found here, or ContinueAsNew, reading this run after
	// creating its next, finds it cancelled (cancelSuccessor): either way
	// the next run is cancelled too.
	return errors.Join(e.cancelSuccessor(ctx, t, reason),
		e.cancelChildren(ctx, taskID, parentEnded(taskID, store.TaskCancelled, reason)))
}

// cancelSuccessor cancels, with reason, the run that continues t (a
// code-first run that ended cancelled) and the runs after it, if
// ContinueAsNew created one: a cancel and a ContinueAsNew racing leave no
// run of the workflow going on. (A run that continued as new before the
// cancel's check is refused by Cancel instead: see refuseContinued.)
func (e *Engine) cancelSuccessor(ctx context.Context, t *store.Task, reason string) error {
	if t.Kind != store.KindCode {
		return nil
	}
	next, err := nextRunOf(ctx, e.st, t)
	if err != nil || next == 0 {
		return err
	}
	why := fmt.Sprintf("the run it continues, task %d, was cancelled", t.ID)
	if reason != "" {
		why += ": " + reason
	}
	for range 100 { // (a chain that kept continuing while being cancelled: bounded)
		err = e.Cancel(ctx, next, why)
		if !errors.Is(err, ErrRefused) {
			break
		}
		// It continued as new itself meanwhile: cancel its chain's last run.
		links, rerr := e.Runs(ctx, next)
		if rerr != nil {
			return errors.Join(err, rerr)
		}
		next = links.Last
	}
	if errors.Is(err, store.ErrIllegalTransition) { // ended already (cancelled by the other side of the race)
		return nil
	}
	if err != nil {
		return fmt.Errorf("cancelling task %d, which continues cancelled task %d: %w", next, t.ID, err)
	}
	return nil
}

// refuseContinued refuses to cancel a code-first run that continued as
// new (ErrRefused, naming the next run and the chain's last, where the
// workflow goes on; nil for any other task): the run is finished, and
// cancelling it, forced, would leave the workflow running in the next one
// while the run's handle (WorkflowHandle.Result) reported it cancelled.
// So is a run whose next run exists but which has not ended yet
// (ContinueAsNew has returned in it), which a cancel would end so. (A
// ContinueAsNew after this check is no refusal: the cancel goes through,
// and the next run is cancelled with the run: see cancelSuccessor.)
func (e *Engine) refuseContinued(ctx context.Context, d *store.TaskDetail) error {
	next, last, err := e.chainEnd(ctx, e.st, d)
	if err == nil && next == 0 && d.Task.Kind == store.KindCode && !d.Task.State.Terminal() {
		if next, err = nextRunOf(ctx, e.st, d.Task); err == nil && next != 0 {
			var nd *store.TaskDetail
			if nd, err = e.st.GetTask(ctx, next); err != nil {
				err = fmt.Errorf("reading task %d, which continues task %d: %w", next, d.Task.ID, err)
			} else {
				_, last, err = e.chainEnd(ctx, e.st, nd)
			}
		}
	}
	switch {
	case err != nil:
		return err
	case next == 0:
		return nil
	}
	return fmt.Errorf("%w: it continued as new as task %d; the workflow goes on in the chain's last run, task %d: cancel that one", ErrRefused, next, last.ID)
}

// chainEnd follows a code-first run's ContinueAsNew chain (Engine.Runs):
// next is the run that continues d (0: none; a result that does not decode
// is no continuation), last the chain's last run, where the workflow goes
// on (d's own task when it did not continue).
func (e *Engine) chainEnd(ctx context.Context, st store.Store, d *store.TaskDetail) (next int64, last *store.Task, err error) {
	last = d.Task
	for {
		after, derr := e.continuedAsOf(d)
		if derr != nil || after == 0 {
			return next, last, nil
		}
		if next == 0 {
			next = after
		}
		if d, err = st.GetTask(ctx, after); err != nil {
			return 0, nil, fmt.Errorf("reading task %d, which continues task %d: %w", after, last.ID, err)
		}
		last = d.Task
	}
}

// Retry moves a task in error back to pending; its failed steps get fresh
// attempts. For a code-first workflow that is the driver and the durable
// step whose failure the workflow returned; durable steps whose failure the
// workflow handled stay as recorded, so the replay takes the same path. A
// task that failed its WithWorkflowTimeout is refused (ErrRefused): its
// deadline has passed, and no step starts after it.
func (e *Engine) Retry(ctx context.Context, taskID int64) error {
	if err := checkTaskID(taskID); err != nil {
		return fmt.Errorf("retrying task %d: %w", taskID, err)
	}
	meta, err := operatorMeta(ctx, map[string]any{"reason": "operator retry"})
	if err != nil {
		return fmt.Errorf("retrying task %d: %w", taskID, err)
	}
	p := &store.RetryTaskParams{TaskID: taskID, Metadata: meta, Now: e.now()}
	d, err := e.st.GetTask(ctx, taskID)
	if err == nil && d.Task.State == store.TaskError {
		if pastTimeout(d.Task) {
			// Its deadline stays and no step starts after it: the retried
			// step would fail again at its claim, without running.
			deadline := "its deadline"
			if d.Task.DeadlineAt != nil {
				deadline += " " + d.Task.DeadlineAt.UTC().Format(time.RFC3339Nano)
			}
			return fmt.Errorf("retrying task %d: %w: the task failed its WithWorkflowTimeout (%s has passed, and no step starts after it), so a retry would fail again at once; %s, or start the workflow anew", taskID, ErrRefused, deadline, closesTimedOut(d.Task))
		}
	}
	if err == nil && d.Task.Kind == store.KindCode {
		// The durable step whose failure the workflow returned gets fresh
		// attempts; failures the workflow handled stay recorded as they are.
		// Only when the failure is that of the task's own step at its
		// sequence: a child's failure passed on cites the child's sequence,
		// which the task may have no step at (the store refuses it) or a
		// different one at, whose failure the workflow handled.
		if f := decodeFailure(d.Task.LastError); f != nil && f.Sequence > 0 && ownStep(d.Steps, f.Sequence, f.Step) {
			p.Sequence = f.Sequence
		}
	}
	if _, err := e.st.RetryTask(ctx, p); err != nil {
		return fmt.Errorf("retrying task %d: %w", taskID, err)
	}
	e.emit(Event{Name: EventTaskRetried, TaskID: taskID})
	e.Notify()
	return nil
}

// ownStep reports whether one of steps is the durable step name at seq.
func ownStep(steps []*store.Step, seq int, name string) bool {
	for _, s := range steps {
		if s.Sequence != nil && *s.Sequence == seq {
			return s.UserName() == name
		}
	}
	return false
}

// Resolve marks a pending or failed step resolved_manually with the given
// results (any JSON-encodable value); its dependants may then run. A task
// whose last unfinished step it resolves completes, announced as a task a
// worker completes is (task.completed, tasks_completed_total, its span). A
// failed task with no failed step left goes back to pending, announced as
// a Retry's (task.retry_requested). A durable step of a code-first
// workflow is resolved only while the workflow is failed (the task in
// error, on that step's failure): one still running has acted on the
// step's outcome (a failure it caught), or is at the step (an event wait,
// a sleep, a step running), whose outcome its run gives, and is refused
// with ErrRefused saying which. Of a failed workflow's durable steps named
// alike (a loop's), step is the one whose failure the workflow returned; a
// failure it caught and went on from is refused (ErrRefused, naming the
// step it failed on). The workflow's driver stays in error: Retry the task
// to run it on.
//
// The driver of a code-first workflow (DriverStep) in error — failed,
// past its WithWorkflowTimeout — resolves the workflow as a whole: results
// are its return value (WorkflowHandle.Result decodes them), its
// unfinished durable steps and children are cancelled, and the task moves
// to resolved_manually, announced as a task a resolve completes. A task in
// error is not cancelled, and one past its deadline not retried: this is
// what closes it. A driver still running is refused (ErrRefused): its run
// produces the result. Results that do not decode as the result type the
// workflow was registered with here, and results that read as a run's
// continuation (ContinueAsNew's record, {"tasker_continued_as_new": ID}),
// are refused with store.ErrInvalid.
//
// A driver whose run had created its next run (ContinueAsNew) before it
// failed is refused too (ErrRefused, naming the chain's last run): the
// workflow goes on there.
//
// A step name no step can have (store.CheckName), and results JSON cannot
// carry, are refused with store.ErrInvalid; a name the task has not,
// store.ErrNotFound.
func (e *Engine) Resolve(ctx context.Context, taskID int64, step string, results any) error {
	if err := checkTaskID(taskID); err != nil {
		return fmt.Errorf("resolving %s of task %d: %w", step, taskID, err)
	}
	// A name no step can have (a NUL byte, not UTF-8, too long) was
	// answered "the task has no step", as if such a step could exist.
	if err := store.CheckName("step", step); err != nil {
		return fmt.Errorf("resolving %s of task %d: %w", quoteName(step), taskID, err)
	}
	meta, err := operatorMeta(ctx, map[string]any{"reason": "operator resolved"})
	if err != nil {
		return fmt.Errorf("resolving %s of task %d: %w", step, taskID, err)
	}
	d, err := e.st.GetTask(ctx, taskID)
	if err != nil {
		return fmt.Errorf("resolving %s of task %d: %w", step, taskID, err)
	}
	s := d.Step(step)
	if s == nil {
		return fmt.Errorf("resolving %s of task %d: %w: the task has no step %q", step, taskID, store.ErrNotFound, step)
	}
	if d.Task.Kind == store.KindCode && d.Task.State == store.TaskError && s.Name != DriverStep {
		if s, err = failedOn(d, step, s); err != nil {
			return fmt.Errorf("resolving %s of task %d: %w", step, taskID, err)
		}
	}
	workflow := d.Task.Kind == store.KindCode && s.Name == DriverStep && d.Task.State == store.TaskError
	if d.Task.Kind == store.KindCode && s.Name == DriverStep && !workflow {
		// The driver's result is the workflow's return value, produced by
		// running the workflow's code: its run would act on its steps
		// after the operator gave the result.
		why := fmt.Sprintf("the code-first workflow is %s, and its run produces its result; Cancel it, or resolve its driver once it has failed (the task in error), which closes it with the result given", d.Task.State)
		if d.Task.State.Terminal() {
			why = fmt.Sprintf("the code-first workflow has finished (%s)", d.Task.State)
		}
		return fmt.Errorf("resolving %s of task %d: %w: %s", step, taskID, ErrRefused, why)
	}
	if workflow {
		// A run that failed after ContinueAsNew created its next run:
		// the workflow goes on there, and a result given here would
		// close a run the chain has left (as Cancel refuses one).
		next, err := nextRunOf(ctx, e.st, d.Task)
		if err == nil && next != 0 {
			var links RunLinks
			if links, err = e.Runs(ctx, next); err == nil {
				return fmt.Errorf("resolving %s of task %d: %w: it continued as new as task %d before it failed; the workflow goes on in the chain's last run, task %d: resolve or cancel that one", step, taskID, ErrRefused, next, links.Last)
			}
		}
		if err != nil {
			return fmt.Errorf("resolving %s of task %d: %w", step, taskID, err)
		}
	}
	if d.Task.Kind == store.KindCode && d.Task.State != store.TaskError {
		// A workflow not failed has acted on its durable steps' outcomes,
		// a failure it caught included: the resolved result would stand in
		// its history where it saw the failure, and its next replay would
		// not match what it did (ErrNonDeterministic). A step it is at
		// (a wait, a sleep, a step running) gets its outcome from the run.
		why := "has acted on the step's outcome already (a failure it caught); a durable step is resolved once the workflow failed on it (the task in error), then the task retried"
		switch {
		case s.State.Satisfied():
			why = fmt.Sprintf("step %q is %s already: only a pending or failed step is resolved", step, s.State)
		case s.State == store.StepPending || s.State == store.StepInProgress:
			why = fmt.Sprintf("is waiting on step %q, whose outcome the run gives", step)
			switch name := s.UserName(); {
			case s.Handler == kindEvent && strings.HasPrefix(name, updatePrefix):
				why += fmt.Sprintf(": the update %q (Update), or the wait's timeout", strings.TrimPrefix(name, updatePrefix))
			case s.Handler == kindEvent:
				why += fmt.Sprintf(": the event %q (SendEvent), or the wait's timeout", name)
			}
			why += "; Cancel the task to stop it"
		}
		return fmt.Errorf("resolving %s of task %d: %w: the code-first workflow is %s and %s", step, taskID, ErrRefused, d.Task.State, why)
	}
	doc, err := json.Marshal(results)
	if err != nil { // the caller's mistake, as a bad step name is
		return fmt.Errorf("resolving %s of task %d: %w: encoding results: %w", step, taskID, store.ErrInvalid, err)
	}
	if workflow {
		if err := e.checkWorkflowResult(d.Task, doc); err != nil {
			return fmt.Errorf("resolving %s of task %d: %w", step, taskID, err)
		}
	}
	if doc, err = e.encodeChecked("results", doc); err != nil {
		return fmt.Errorf("resolving %s of task %d: encoding results: %w", step, taskID, err)
	}
	rs, err := e.st.ResolveStep(ctx, &store.ResolveStepParams{StepID: s.ID, Results: doc, Metadata: meta, Now: e.now()})
	if err != nil {
		return fmt.Errorf("resolving %s of task %d: %w", step, taskID, err)
	}
	e.emit(Event{Name: EventStepResolved, TaskID: taskID, Step: step})
	for _, m := range rs.Tasks {
		if m.From == store.TaskError && m.To == store.TaskPending { // as a Retry moves it
			e.emit(Event{Name: EventTaskRetried, TaskID: taskID})
		}
	}
	e.taskChanged(taskID) // waiters first, as a commit wakes them
	e.resolvedEnd(ctx, rs)
	e.Notify()
	if workflow {
		// No one is left to read its children's results (closeChildren).
		if err := e.cancelChildren(ctx, taskID, parentEnded(taskID, store.TaskResolvedManually, "its driver was resolved by hand")); err != nil {
			return fmt.Errorf("resolving %s of task %d: the task is resolved; cancelling its children: %w", step, taskID, err)
		}
	}
	return nil
}

// failedOn is the durable step of d, a code-first workflow in error, that
// Resolve of step (found as s) resolves: of the steps the code named step
// (a loop's), the one whose failure the workflow returned. A failure the
// workflow caught and went on from is refused (ErrRefused, naming the step
// it failed on): the resolved result would stand in its history where it
// saw the failure, the task stay in error, and its retried run's replay
// would not match what it did (ErrNonDeterministic). A failure the task
// does not attribute to one of its own steps (a child's, the workflow's
// own error) leaves s as it is.
func failedOn(d *store.TaskDetail, step string, s *store.Step) (*store.Step, error) {
	f := decodeFailure(d.Task.LastError)
	if f == nil || f.Sequence <= 0 || !ownStep(d.Steps, f.Sequence, f.Step) {
		return s, nil
	}
	if s.Name != step { // the name as the code wrote it, not a row's
		for _, c := range d.StepsNamed(step) {
			if c.Sequence != nil && *c.Sequence == f.Sequence {
				return c, nil
			}
		}
	}
	if s.State == store.StepError && s.Sequence != nil && *s.Sequence != f.Sequence {
		return nil, fmt.Errorf("%w: the workflow caught the failure of step %q (sequence %d) and went on; it failed on step %q (sequence %d): resolve that one", ErrRefused, s.UserName(), *s.Sequence, f.Step, f.Sequence)
	}
	return s, nil
}

// checkWorkflowResult refuses results that read as a continuation, and
// those that do not decode as the result type the task's workflow was
// registered with here (unknown here: not checked): WorkflowHandle.Result
// would fail to decode them.
func (e *Engine) checkWorkflowResult(t *store.Task, doc []byte) error {
	// What a run ContinueAsNew ended records: the task would read as
	// continued by that one (another workflow's, perhaps), whose result
	// Result would return. Checked where the workflow is not registered
	// too (tasker tasks resolve), and a struct result type ignores it.
	if next, ok := continuedAs(doc); ok {
		return fmt.Errorf("%w: the results {%q: %d} are what a run that continued as new records, not a return value: the task would read as continued by task %d", store.ErrInvalid, continuedKey, next, next)
	}
	def, ok := e.workflowDef(t.Namespace + "/" + t.Name)
	if !ok {
		return nil
	}
	if err := json.Unmarshal(doc, reflect.New(def.out).Interface()); err != nil {
		return fmt.Errorf("%w: the results are the workflow's return value, and do not decode as its result type %s: %v", store.ErrInvalid, def.out, err)
	}
	return nil
}

// resolvedEnd announces the end of the task a resolve completed (its last
// unfinished step resolved) or resolved as a whole (a code-first
// workflow's driver), as a commit announces the tasks it ends:
// tasks_completed_total, the task's span, task.completed. Only a task the
// resolve's own transaction ended (the store reports its moves): a task
// another commit completed meanwhile was announced by that commit.
func (e *Engine) resolvedEnd(ctx context.Context, rs *store.ResolveStepResult) {
	var end store.TaskState
	for _, m := range rs.Tasks {
		if m.To == store.TaskComplete || m.To == store.TaskResolvedManually {
			end = m.To
		}
	}
	if end == "" {
		return
	}
	d, err := e.st.GetTask(ctx, rs.Step.TaskID)
	if err != nil {
		e.log.Debug("reading a resolved step's task failed; its end is not announced", zap.Int64("task_id", rs.Step.TaskID), zap.Error(err))
		return
	}
	e.met.taskEnded(d.Task.Namespace, d.Task.Name, false)
	if d.Task.TraceContext != "" {
		e.traceTaskEnd(ctx, d.Task, end, nil)
	}
	e.emit(Event{Name: EventTaskCompleted, TaskID: rs.Step.TaskID})
}

// operatorMeta is an operator action's transition metadata: m, with the
// actor of ctx (WithActor) when there is one. An actor with a NUL byte is
// refused naming it: the store refuses the metadata, in its own words
// ("metadata: contains a NUL character").
func operatorMeta(ctx context.Context, m map[string]any) (store.JSON, error) {
	a := actorOf(ctx)
	if strings.IndexByte(a, 0) >= 0 {
		return nil, fmt.Errorf("%w: WithActor: the actor %s contains a NUL byte", store.ErrInvalid, quoteName(a))
	}
	if !utf8.ValidString(a) { // recorded with U+FFFD in place of the bad bytes: another name
		return nil, fmt.Errorf("%w: WithActor: the actor %q is not UTF-8", store.ErrInvalid, a)
	}
	if a != "" {
		m["actor"] = a
	}
	doc, _ := json.Marshal(m) // strings and bools always encode
	return doc, nil
}

// TaskByKey returns the task that workflow ("namespace/name") was started
// with under WithIdempotencyKey(key), or an error matching store.ErrNotFound.
// A workflow that is not "namespace/name" (a key is scoped by the name, not
// by a version: "ns/name@1.0.0" is refused) and an empty key are refused
// with store.ErrInvalid.
func (e *Engine) TaskByKey(ctx context.Context, workflow, key string) (*store.Task, error) {
	ns, name, ok := strings.Cut(workflow, "/")
	switch {
	case !ok || ns == "" || name == "" || strings.Contains(ns, "@") || strings.ContainsAny(name, "/@"):
		return nil, fmt.Errorf("finding the task of %q by idempotency key: %w: the workflow must be \"namespace/name\" (keys are scoped by name, whatever the version)", workflow, store.ErrInvalid)
	case key == "":
		return nil, fmt.Errorf("finding the task of %s by idempotency key: %w: the key is empty", workflow, store.ErrInvalid)
	}
	t, err := e.st.GetTaskByIdentity(ctx, boundIdentity("key:"+workflow+":"+key))
	if err == nil && (t.Namespace != ns || t.Name != name) { // "t/a" with "b:k", asked as "t/a:b" with "k"
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("finding the task of %s with idempotency key %s: %w", workflow, quoteName(key), err)
	}
	return t, nil
}
