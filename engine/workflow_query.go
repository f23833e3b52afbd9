package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/tasker-go/tasker/store"
)

// Queries and updates.
//
// A query reads state the workflow published (SetQueryState), not a handler
// run on demand: answering a Temporal-style query handler means loading the
// history and replaying the workflow's code in the asking process, which
// needs the workflow registered there, costs a replay per question, and
// cannot answer while no worker runs. Published state is one row, read
// with the task's outcome (did the run continue as new?) in two statements
// from any process (a CLI, an admin page), as of the workflow's last
// published point, and it survives the workflow's end.
//
// An update is an event (so it is durable and idempotent per update id the
// moment it is sent) that the workflow receives at a point of its choosing
// (ReceiveUpdate, or OnUpdate in a Select) and answers (Reply); the answer
// is stored once, so a sender that asks again, or waits again after a
// crash, gets the same answer.

// updatePrefix prefixes the event that carries an update.
const updatePrefix = "update:"

// MaxUpdateNameLen is the longest update name, in bytes, that Update,
// ReceiveUpdate and OnUpdate take (236): ReceiveUpdate's wait is a durable
// operation named updatePrefix+name, and its row name#seq must fit the
// store's names. A longer name is refused by each of them, naming the
// limit, so that no update is sent that no workflow could receive.
const MaxUpdateNameLen = maxDurableName - len(updatePrefix)

// Errors of queries and updates.
var (
	// ErrNoQueryState: the workflow has published nothing under that name.
	ErrNoQueryState = errors.New("tasker: no query state")
	// ErrUpdateUnanswered: the workflow finished without answering the
	// update (or is in error: see Update).
	ErrUpdateUnanswered = errors.New("tasker: update not answered")
)

// SetQueryState publishes v under name: Query returns it to anyone, in any
// process, until the workflow publishes another value under that name. A
// replay re-publishing older values changes nothing (each value is stamped
// with the workflow's place in its history). v must encode as JSON within
// Config.MaxPayloadBytes, and name must be one the store accepts (not
// empty, at most 255 bytes of UTF-8, no NUL byte) without spaces around it
// (a query state is no part of the history: renaming one replays); an
// error fails the workflow, naming it. Called inside a durable step's
// function, it fails the workflow, as the durable operations do there.
func SetQueryState(wctx *WorkflowContext, name string, v any) error {
	mustContext(wctx, "engine.SetQueryState")
	if err := wctx.refuseInsideStep(fmt.Sprintf("engine.SetQueryState(%q)", name)); err != nil {
		return err
	}
	if msg := checkName("query state name", name); msg != "" {
		// (Invalid UTF-8 was published on SQLite, and PostgreSQL refuses
		// it; a name with spaces around it is refused as registration
		// refuses one. Query still reads one published before.)
		return wctx.failWith(Permanent(fmt.Errorf("engine.SetQueryState: %s", msg)))
	}
	doc, err := json.Marshal(v)
	if err != nil {
		return wctx.failWith(Permanent(fmt.Errorf("query state %q: encoding: %w", name, err)))
	}
	if doc, err = wctx.e.encodeChecked("query state "+name, doc); err != nil {
		return wctx.failWith(Permanent(err))
	}
	return wctx.publish(store.ValueQuery, name, doc)
}

// refuseInsideStep fails the workflow when what, which publishes, is called
// inside a durable step's function (or a future's: see misplaced): a
// replay returns the step's record without calling the function, so what
// it published there would not be published again where the history has
// it.
func (w *WorkflowContext) refuseInsideStep(what string) error {
	w.mu.Lock()
	err := w.misplaced(what)
	w.mu.Unlock()
	if err == nil {
		return nil
	}
	return w.failWith(err)
}

// publish writes a value under the driver's lease, unless this is a replay
// still inside the recorded history (the value was written then, and a
// later one may have replaced it).
func (w *WorkflowContext) publish(kind, name string, doc []byte) error {
	w.mu.Lock()
	stop, seq, inside := w.stop, w.seq, w.seq < w.last
	w.mu.Unlock()
	switch {
	case stop != nil:
		return stop
	case w.replay || inside:
		return nil
	}
	if err := w.flushPending(); err != nil { // a value never runs ahead of the steps
		return err
	}
	err := w.e.st.SetWorkflowValue(context.WithoutCancel(w.Context), &store.SetWorkflowValueParams{Driver: w.lease, TaskID: w.TaskID,
		Kind: kind, Name: name, Seq: seq, Value: doc, Now: w.e.now()})
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		return w.abortWith(errLeaseLost)
	case errors.Is(err, store.ErrInvalid):
		return w.failWith(Permanent(fmt.Errorf("publishing %s %q: %w", kind, name, err)))
	case err != nil:
		return w.abortWith(fmt.Errorf("publishing %s %q: %w", kind, name, err))
	}
	if kind == store.ValueReply {
		w.e.waiters.Notify(w.TaskID) // an Update waiting in this process
	}
	return nil
}

// Query returns the state a workflow task published under name
// (SetQueryState), decoded as T, or ErrNoQueryState (the error says when
// the task is a DAG task, which publishes none). A task id of no task is
// store.ErrNotFound (an id no task can have, 0 or negative, is
// store.ErrInvalid, as is a name no state can have: empty, over 255
// bytes, with a NUL byte, not UTF-8; a name with spaces around it, which
// SetQueryState refuses now, still reads a state published before). It reads the
// database only: the workflow need not be running, or registered in this
// process.
//
// A run that continued as new (ContinueAsNew) is no longer the workflow's
// current state: Query returns the state it last published together with
// an error wrapping a *ContinuedError whose Next is the run that continues
// it (ErrNoQueryState wraps one too); query the last run (Engine.Runs
// follows the chain) for the workflow's current state.
//
// T is checked against the published value: one with a field T does not
// have, or of another kind, is ErrTypeMismatch (JSON would have left T's
// fields zero); a map or json.RawMessage reads any.
func Query[T any](ctx context.Context, e *Engine, taskID int64, name string) (T, error) {
	var v T
	if err := checkTaskID(taskID); err != nil {
		return v, fmt.Errorf("querying %q of task %d: %w", name, taskID, err)
	}
	if msg := checkStoreName("query state name", name); msg != "" { // no state can have it
		return v, fmt.Errorf("querying task %d: %w: %s", taskID, store.ErrInvalid, msg)
	}
	wv, err := e.st.GetWorkflowValue(ctx, taskID, store.ValueQuery, name)
	if errors.Is(err, store.ErrNotFound) {
		// Only now is the task read: say why there is nothing.
		t, terr := e.outcome(ctx, taskID)
		switch {
		case terr != nil:
			return v, fmt.Errorf("querying %q of task %d: %w", name, taskID, terr)
		case t.Kind != store.KindCode:
			return v, fmt.Errorf("querying %q of task %d: %w: it is a task of the DAG template %s/%s; only code-first workflows publish query state", name, taskID, ErrNoQueryState, t.Namespace, t.Name)
		}
		if c, cerr := e.continuedOutcome(t); cerr != nil {
			return v, fmt.Errorf("querying %q of task %d: %w", name, taskID, cerr)
		} else if c != nil {
			return v, fmt.Errorf("querying %q of task %d: %w: %w (the workflow goes on there)", name, taskID, ErrNoQueryState, c)
		}
		return v, fmt.Errorf("querying %q of task %d: %w", name, taskID, ErrNoQueryState)
	}
	if err != nil {
		return v, fmt.Errorf("querying %q of task %d: %w", name, taskID, err)
	}
	doc, err := e.decode(wv.Value)
	if err != nil {
		return v, fmt.Errorf("querying %q of task %d: %w", name, taskID, err)
	}
	if err := decodePublished(ctx, e, taskID, "query state "+strconv.Quote(name), doc, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("querying %q of task %d: %w", name, taskID, err)
	}
	// A value is all a running workflow's query needs; only a run that
	// ended can have continued, but whether it has is the task's to say.
	t, err := e.outcome(ctx, taskID)
	if err != nil {
		return v, fmt.Errorf("querying %q of task %d: %w", name, taskID, err)
	}
	if c, err := e.continuedOutcome(t); err != nil {
		return v, fmt.Errorf("querying %q of task %d: %w", name, taskID, err)
	} else if c != nil {
		return v, fmt.Errorf("querying %q of task %d: this is the state it last published: %w (the workflow goes on there)", name, taskID, c)
	}
	return v, nil
}

// decodePublished decodes doc, a value workflow task taskID published
// (what names it: its query state, its answer to an update), into v.
// Nothing registers the type of such a value, so the document is all
// there is to check v's type against: a field the type does not have, or
// a value of another kind, is ErrTypeMismatch naming the workflow, what,
// the type and the field, where JSON would leave v's fields zero and
// report nothing.
func decodePublished[T any](ctx context.Context, e *Engine, taskID int64, what string, doc []byte, v *T) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	workflow := fmt.Sprintf("workflow task %d", taskID)
	if t, terr := e.outcome(ctx, taskID); terr == nil { // only to name it
		workflow = "workflow " + t.Namespace + "/" + t.Name
	}
	return fmt.Errorf("%w: %s published %s, which does not decode as %s: %w", ErrTypeMismatch, workflow, what, reflect.TypeFor[T](), err)
}

// continuedOutcome is the *ContinuedError of a code-first run that ended
// continued as new (nil when it did not).
func (e *Engine) continuedOutcome(t *store.TaskOutcome) (*ContinuedError, error) {
	if t.Kind != store.KindCode || t.State != store.TaskComplete {
		return nil, nil
	}
	for _, s := range t.Steps {
		if s.Name != DriverStep {
			continue
		}
		doc, err := e.decode(s.Results)
		if err != nil {
			return nil, err
		}
		if next, ok := continuedAs(doc); ok {
			return &ContinuedError{TaskID: t.ID, Next: next}, nil
		}
	}
	return nil, nil
}

// UpdateRequest is an update a workflow received (ReceiveUpdate, OnUpdate).
type UpdateRequest[A any] struct {
	Name string // the update's name
	ID   string // the sender's update id
	Arg  A
}

// reply is an update's stored answer.
type reply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// UpdateError is an update the workflow answered with an error.
type UpdateError struct {
	TaskID  int64
	Update  string
	ID      string
	Message string
}

func (e *UpdateError) Error() string {
	return fmt.Sprintf("update %s (id %s) of workflow task %d: %s", e.Update, e.ID, e.TaskID, e.Message)
}

// ReceiveUpdate waits, durably, up to timeout for an update of that name
// (see Update) and returns it; the timeout is an *EventTimeoutError (a
// timeout that is not positive, a name WaitEvent or Update would refuse,
// one with a newline say, or an A JSON cannot carry fails the workflow). Updates are
// received one at a time, oldest first; the receipt is recorded, so a
// replay receives the same one. Answer it with Reply.
func ReceiveUpdate[A any](wctx *WorkflowContext, name string, timeout time.Duration) (*UpdateRequest[A], error) {
	mustContext(wctx, "engine.ReceiveUpdate")
	seq, r, err := waitEvent(wctx, updatePrefix+name, timeout, true, reflect.TypeFor[A]())
	if err != nil {
		return nil, err
	}
	arg, err := decodeAs[A](wctx, seq, "argument of update "+strconv.Quote(name), r.Payload)
	if err != nil {
		return nil, err
	}
	return &UpdateRequest[A]{Name: name, ID: r.Key, Arg: arg}, nil
}

// OnUpdate is a Select case that is ready when an update of that name was
// sent; Select receives it into *req. A nil req, a name Update refuses
// (empty, with a newline or a NUL byte, not UTF-8, over MaxUpdateNameLen
// bytes), or an
// A JSON cannot carry (a func, a channel) fails the workflow.
func OnUpdate[A any](name string, req **UpdateRequest[A]) SelectCase {
	c := onEvent[json.RawMessage](updatePrefix+name, nil)
	if req == nil {
		c.misuse = fmt.Sprintf("OnUpdate(%q), has a nil request pointer: the update could be neither read nor answered", name)
		return c
	}
	if msg := unencodable(reflect.TypeFor[A]()); msg != "" {
		c.misuse = fmt.Sprintf("OnUpdate(%q): its payload type %s", name, msg)
		return c
	}
	c.decodeEvent = func(key string, raw json.RawMessage) error {
		r := &UpdateRequest[A]{Name: name, ID: key}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &r.Arg); err != nil {
				return err
			}
		}
		*req = r
		return nil
	}
	return c
}

// Reply answers the update with result, or with failure when it is not nil
// (the sender's Update then returns an *UpdateError with its message, or
// with its type's name when the message is empty). The first answer is
// stored and kept; answering again changes nothing. Reply on a nil request
// (no update was received), inside a durable step's function, with a
// failure that is a nil pointer in a non-nil error (a typed nil), with a
// result JSON cannot carry, or with an answer over Config.MaxPayloadBytes
// fails the workflow, naming the update.
func (r *UpdateRequest[A]) Reply(wctx *WorkflowContext, result any, failure error) error {
	mustContext(wctx, "UpdateRequest.Reply")
	if r == nil {
		return wctx.failWith(Permanent(errors.New("UpdateRequest.Reply: the request is nil: no update was received (ReceiveUpdate returned an error, or another case of the Select won)")))
	}
	if err := wctx.refuseInsideStep(fmt.Sprintf("UpdateRequest.Reply (update %q, id %q)", r.Name, r.ID)); err != nil {
		return err
	}
	if v := reflect.ValueOf(failure); failure != nil && v.Kind() == reflect.Pointer && v.IsNil() {
		// A function returning *MyError gave its nil: read as a failure,
		// its Error method ran on a nil pointer (a panic, the driver
		// retried while the sender waited).
		return wctx.failWith(Permanent(fmt.Errorf("UpdateRequest.Reply (update %q, id %q): the failure is a nil %T in a non-nil error: pass a nil error to answer with the result", r.Name, r.ID, failure)))
	}
	var rep reply
	if failure != nil {
		rep.Error = failure.Error()
		if rep.Error == "" { // an answer without an error message reads as a success
			rep.Error = fmt.Sprintf("an error (%T) with an empty message", failure)
		}
	} else {
		doc, err := json.Marshal(result)
		if err != nil {
			return wctx.failWith(Permanent(fmt.Errorf("answering update %s (id %s): encoding: %w", r.Name, r.ID, err)))
		}
		rep.Result = doc
	}
	doc, _ := json.Marshal(rep)
	doc, err := wctx.e.encodeChecked("answer to update "+r.Name, doc)
	if err != nil {
		return wctx.failWith(Permanent(err))
	}
	return wctx.publish(store.ValueReply, replyName(r.Name, r.ID), doc)
}

func replyName(update, id string) string { return update + "\n" + id }

// updateNameProblem says why no Update can send an update of that name
// ("" when one can): see updateProblem, with the shortest id.
func updateNameProblem(name string) string {
	if msg := checkStoreName("update name", name); msg != "" {
		return msg
	}
	if strings.Contains(name, "\n") {
		return fmt.Sprintf("update name %s holds a newline", quoteName(name))
	}
	if len(name) > MaxUpdateNameLen {
		return fmt.Sprintf("update name %s is %d bytes long; the limit is %d (MaxUpdateNameLen)", quoteName(name), len(name), MaxUpdateNameLen)
	}
	return ""
}

// updateProblem says why an update's name and id cannot be carried (""
// when they can): each is a name the store takes, with no newline (the
// answer is stored under both joined by one), and together they fit the
// store's names (the update travels as the event updatePrefix+name keyed
// by id, its answer as the value replyName(name, id)); the name is at most
// MaxUpdateNameLen bytes, so that ReceiveUpdate could receive it.
func updateProblem(name, id string) string {
	if msg := updateNameProblem(name); msg != "" {
		return msg
	}
	if msg := checkStoreName("update id", id); msg != "" {
		return msg
	}
	if strings.Contains(id, "\n") {
		return fmt.Sprintf("update id %s holds a newline", quoteName(id))
	}
	if n := max(len(updatePrefix+name), len(replyName(name, id))); n > store.MaxNameLen {
		return fmt.Sprintf("update name %s and id %s are too long together (%d bytes with their separator; the limit is %d)", quoteName(name), quoteName(id), n, store.MaxNameLen)
	}
	return ""
}

// Update sends an update to a workflow task and waits for its answer. id
// makes it idempotent: sending the same (name, id) again, after a crash of
// the sender or of the workflow's worker, never delivers it twice and
// returns the same answer. It returns the answer decoded as R, an
// *UpdateError when the workflow answered with an error,
// ErrUpdateUnanswered when the workflow finished without answering, or
// ctx's error. An update (a new id) to a workflow finished before it was
// sent, a DAG task, or a run that continued as new (naming the run that
// continues it) is refused with ErrEventRefused, as SendEvent refuses a new
// event: nothing is sent. A workflow in error (failed, not past its
// WithWorkflowTimeout) is not waited for: ErrUpdateUnanswered says so at
// once, as a handle's Result returns the failure, though the update stays
// sent and a Retry of the task may answer it; Update again with the same
// id returns that answer. An update the run had not received when it continued as new
// went to the next run with its other unread events (ContinueAsNew): Update
// waits for that run's answer, along the chain. A result type R JSON cannot carry (a func, a channel) is
// refused (store.ErrInvalid) before anything is sent, as are an argument
// JSON cannot carry and a name or id the store would refuse. R is checked against the answer: one with a
// field R does not have, or of another kind, is ErrTypeMismatch (JSON
// would have left R's fields zero).
func Update[R any](ctx context.Context, e *Engine, taskID int64, name, id string, arg any) (R, error) {
	var zero R
	if err := checkTaskID(taskID); err != nil {
		return zero, fmt.Errorf("updating task %d: %w", taskID, err)
	}
	if msg := updateProblem(name, id); msg != "" {
		return zero, fmt.Errorf("updating task %d: %w: %s", taskID, store.ErrInvalid, msg)
	}
	if msg := unencodable(reflect.TypeFor[R]()); msg != "" { // the answer could not be read
		return zero, fmt.Errorf("updating task %d: %w: its answer type %s", taskID, store.ErrInvalid, msg)
	}
	run := taskID // the run that holds the update: a later one, when it moved
	answered := func() (R, bool, error) {
		wv, err := e.st.GetWorkflowValue(ctx, run, store.ValueReply, replyName(name, id))
		if errors.Is(err, store.ErrNotFound) {
			return zero, false, nil
		}
		if err != nil {
			return zero, false, fmt.Errorf("reading the answer to update %s of task %d: %w", name, taskID, err)
		}
		var rep reply
		var v R
		doc, err := e.decode(wv.Value)
		if err != nil {
			return zero, true, fmt.Errorf("reading the answer to update %s of task %d: %w", name, taskID, err)
		}
		if err := json.Unmarshal(doc, &rep); err != nil {
			return zero, true, fmt.Errorf("decoding the answer to update %s of task %d: %w", name, taskID, err)
		}
		if rep.Error != "" {
			return zero, true, &UpdateError{TaskID: taskID, Update: name, ID: id, Message: rep.Error}
		}
		if len(rep.Result) > 0 {
			if err := decodePublished(ctx, e, run, "the answer to update "+name+" (id "+id+")", rep.Result, &v); err != nil {
				return zero, true, fmt.Errorf("decoding the answer to update %s of task %d: %w", name, taskID, err)
			}
		}
		return v, true, nil
	}
	if v, ok, err := answered(); ok || err != nil {
		return v, err
	}
	// Encoded here so that an argument JSON cannot carry is the caller's
	// mistake (store.ErrInvalid, as an answer type JSON cannot carry is).
	doc, err := json.Marshal(arg)
	if err != nil {
		return zero, fmt.Errorf("updating task %d: %w: the argument of update %s (id %s) cannot be encoded: %v", taskID, store.ErrInvalid, quoteName(name), quoteName(id), err)
	}
	what := "update " + quoteName(name) + " (id " + quoteName(id) + ")"
	if _, err := e.sendEvent(ctx, taskID, updatePrefix+name, id, json.RawMessage(doc), what, "argument of "+what); err != nil {
		if v, ok, aerr := answered(); ok || aerr != nil { // answered meanwhile, then finished
			return v, aerr
		}
		return zero, fmt.Errorf("updating task %d: %w", taskID, err)
	}
	for {
		w := e.waiters.Add(run)
		v, ok, err := answered()
		if ok || err != nil {
			e.waiters.Drop(run, w)
			return v, err
		}
		d, err := e.st.GetTask(ctx, run)
		if err != nil {
			e.waiters.Drop(run, w)
			return zero, fmt.Errorf("updating task %d: %w", taskID, err)
		}
		if d.Task.State.Done() {
			e.waiters.Drop(run, w)
			if v, ok, err := answered(); ok || err != nil {
				return v, err
			}
			// A run that continued as new before it received the update
			// gave it to the next run with its other unread events
			// (ContinueAsNew), which answers it there (Runs' link: also
			// from a run cancelled as it continued).
			if next, err := e.nextRun(ctx, e.st, d); err != nil {
				return zero, fmt.Errorf("updating task %d: %w", taskID, err)
			} else if next != 0 && !receivedEvent(d, updatePrefix+name, id) {
				run = next
				continue
			}
			if d.Task.State == store.TaskError && !pastTimeout(d.Task) {
				// Not waited for: no run answers until someone retries
				// it, which may never be. The update stays sent.
				return zero, fmt.Errorf("update %s (id %s) of task %d: %w: the workflow failed (state error) before answering; the update is kept, and a Retry of the task may answer it: call Update again with the same id to wait for that answer", name, id, run, ErrUpdateUnanswered)
			}
			return zero, fmt.Errorf("update %s (id %s) of task %d: %w: the workflow ended %s", name, id, run, ErrUpdateUnanswered, d.Task.State)
		}
		poll := time.NewTimer(e.cfg.Execution.PollInterval)
		select {
		case <-w.C:
		case <-poll.C:
		case <-ctx.Done():
			poll.Stop()
			e.waiters.Drop(run, w)
			return zero, ctx.Err()
		}
		poll.Stop()
		e.waiters.Drop(run, w)
	}
}

// receivedEvent reports whether a code-first run's history holds the
// receipt of event name with key (a wait's or a selection's record of the
// event it consumed).
func receivedEvent(d *store.TaskDetail, name, key string) bool {
	for _, s := range d.Steps {
		if s.Handler != kindEvent && s.Handler != kindSelect || !s.State.Satisfied() {
			continue
		}
		var ev struct {
			EventID int64  `json:"event_id"`
			Name    string `json:"name"`
			Key     string `json:"key"`
		}
		if json.Unmarshal(s.Results, &ev) == nil && ev.EventID != 0 && ev.Name == name && ev.Key == key {
			return true
		}
	}
	return false
}
