package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// Sleep suspends the workflow for d, durably: the wake-up time is recorded
// on first reach, the worker is released, and the workflow resumes on any
// worker once the time has passed, also after a restart. A d of 0 or less
// returns at once; a positive d under a millisecond fails the workflow: a
// bare number is nanoseconds (Sleep(w, 30) would sleep 30 ns, not 30 s).
func Sleep(wctx *WorkflowContext, d time.Duration) error {
	mustContext(wctx, "engine.Sleep")
	return sleep(wctx, d, "engine.Sleep", nil)
}

// sleep is Sleep; what names the user's call whose duration is checked, or
// is "" where the engine computed the duration itself (SleepUntil's
// remainder may be a few microseconds); refused, when set, is why the call
// fails the workflow where no sleep is recorded yet.
func sleep(wctx *WorkflowContext, d time.Duration, what string, refused error) error {
	seq, rec, err := wctx.begin("sleep", kindSleep)
	if err != nil {
		return err
	}
	if rec != nil && rec.State.Satisfied() {
		return nil
	}
	if rec == nil && refused != nil { // (a sleep recorded before replays as it was)
		return wctx.failWith(Permanent(refused))
	}
	if rec == nil && what != "" {
		if err := underAMillisecond(what, d); err != nil {
			return wctx.failWith(Permanent(err))
		}
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
	if wctx.now().Before(rec.NextAttemptAt) {
		return wctx.suspend(rec.NextAttemptAt, "sleep")
	}
	p.Kind, p.Results = store.OutcomeComplete, store.JSON(`{}`)
	if _, err = wctx.record(p); err == nil {
		wctx.traceWait("tasker.sleep", seq, rec.CreatedAt, nil)
	}
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
// returns the same one. A timeout that is not positive fails the workflow
// (it would time out at once, and is more likely a mistake for "forever"),
// and so does one under a millisecond (a bare number is nanoseconds:
// WaitEvent(w, name, 72) waits 72 ns) and a name SendEvent or the history
// would refuse (empty, over 243 bytes, with a NUL byte, beginning with
// "update:", which only updates carry: receive those with ReceiveUpdate),
// one with spaces around it (a wait recorded with one before replays as it
// was), and a payload type JSON cannot carry (a func, a channel).
func WaitEvent[T any](wctx *WorkflowContext, name string, timeout time.Duration) (T, error) {
	mustContext(wctx, "engine.WaitEvent")
	var zero T
	seq, r, err := waitEvent(wctx, name, timeout, false, reflect.TypeFor[T]())
	if err != nil {
		return zero, err
	}
	return decodeAs[T](wctx, seq, "payload of event "+strconv.Quote(name), r.Payload)
}

// waitEvent is WaitEvent with the recorded event undecoded; update says
// it is ReceiveUpdate's wait for the event updatePrefix+name, and payload
// is the type the payload will be decoded as.
func waitEvent(wctx *WorkflowContext, name string, timeout time.Duration, update bool, payload reflect.Type) (int, *eventResult, error) {
	seq, rec, err := wctx.begin(name, kindEvent)
	if err != nil {
		return seq, nil, err
	}
	if rec == nil { // (a wait recorded before replays as it was)
		what, event, kind := "engine.WaitEvent", name, "event"
		if update {
			what, event, kind = "engine.ReceiveUpdate", strings.TrimPrefix(name, updatePrefix), "update"
		} else if strings.HasPrefix(name, updatePrefix) {
			// SendEvent refuses such a name: only updates come, which
			// the wait cannot answer.
			return seq, nil, wctx.failWith(Permanent(fmt.Errorf("%s(%s, %s): %s", what, quoteName(name), timeout, reservedForUpdates("engine.ReceiveUpdate"))))
		}
		limit := maxDurableName - (len(name) - len(event)) // the wait's row is named name#seq
		// A name with spaces around it, which `tasker events send` and the
		// admin API refuse, is refused as registration refuses one.
		bad := checkName(kind+" name", event)
		if bad == "" && kind == "update" && strings.Contains(event, "\n") { // Update refuses it
			bad = updateNameProblem(event)
		}
		switch {
		case event == "":
			// SendEvent refuses an empty name, and Update an empty
			// update name: nothing could ever arrive.
			return seq, nil, wctx.failWith(Permanent(fmt.Errorf("%s(%q, %s): the %s name is empty, and no %s can be sent without one", what, event, timeout, kind, kind)))
		case len(event) > limit:
			return seq, nil, wctx.failWith(Permanent(fmt.Errorf("%s(%s, %s): the %s name is %d bytes long; the limit is %d", what, quoteName(event), timeout, kind, len(event), limit)))
		case bad != "":
			return seq, nil, wctx.failWith(Permanent(fmt.Errorf("%s: %s", what, bad)))
		case timeout <= 0:
			return seq, nil, wctx.failWith(Permanent(fmt.Errorf("%s(%s, %s): the timeout is not positive, so the wait would time out at once; pass the longest wait you accept (72*time.Hour, say)", what, strconv.Quote(event), timeout)))
		case timeout < time.Millisecond:
			return seq, nil, wctx.failWith(Permanent(fmt.Errorf("%s(%s, %s): the timeout must be at least 1ms (a bare number is nanoseconds: write 72*time.Hour, not 72)", what, strconv.Quote(event), timeout)))
		case unencodable(payload) != "":
			// Its payload could never be decoded: the wait would
			// consume the event and then fail.
			return seq, nil, wctx.failWith(Permanent(fmt.Errorf("%s(%s, %s): its payload type %s", what, strconv.Quote(event), timeout, unencodable(payload))))
		}
	}
	ended := rec == nil || !rec.State.Satisfied() // in this run: traced
	if ended {
		rec, err = wctx.record(store.RecordStepParams{Sequence: seq, Name: name, Handler: kindEvent, Kind: store.OutcomeSuspend,
			RetryAfter: max(timeout, 0), ConsumeEvent: name})
		if err != nil {
			return seq, nil, err
		}
		if !rec.State.Satisfied() {
			if wctx.now().Before(rec.NextAttemptAt) {
				return seq, nil, wctx.suspend(rec.NextAttemptAt, "event "+name, name)
			}
			if rec, err = wctx.record(store.RecordStepParams{Sequence: seq, Name: name, Handler: kindEvent, Kind: store.OutcomeComplete,
				Results: store.JSON(`{"timeout":true}`), ConsumeEvent: name}); err != nil {
				return seq, nil, err
			}
		}
	}
	var r eventResult
	if err := json.Unmarshal(rec.Results, &r); err != nil {
		return seq, nil, wctx.failWith(Permanent(fmt.Errorf("decoding the recorded event %s (sequence %d): %w", name, seq, err)))
	}
	if r.Timeout {
		err = &EventTimeoutError{Event: name, Timeout: timeout}
	}
	if ended {
		wctx.traceWait("tasker.wait_event "+name, seq, rec.CreatedAt, err)
	}
	if err != nil {
		return seq, nil, err
	}
	return seq, &r, nil
}

// reservedForUpdates says why an event's name may not begin with
// updatePrefix; receive names the call that receives updates.
func reservedForUpdates(receive string) string {
	return fmt.Sprintf("the name begins with %q, reserved for updates: receive one with %s, which can answer it", updatePrefix, receive)
}

// SendEvent sends an event to a workflow task: it is recorded once per
// (task, name, key) — sending again with the same key changes nothing — and
// the workflow's driver is woken in the same transaction, so a workflow
// waiting for it resumes at once and one not waiting yet finds it later.
// An empty key makes every send a new event. It reports whether the event
// was new. A new event for a finished task, or for one that failed its
// WithWorkflowTimeout (which Retry refuses), is refused (ErrEventRefused;
// for a run that continued as new, naming the run that continues it, where
// the workflow reads its events now); a repeat of one it received is not,
// even one it passed on unread to the run continuing it — a sender whose
// reply was lost can send again safely whatever happened since. A name beginning with
// "update:" is refused (store.ErrInvalid): those events carry updates, sent
// with Update, which reads their answers; so are an empty name and a name
// or key the store would refuse (over 255 bytes, with a NUL byte; a name
// that is not UTF-8), in one message naming the problem, and a payload
// JSON cannot carry (a func, a json.RawMessage that is not JSON).
func (e *Engine) SendEvent(ctx context.Context, taskID int64, name, key string, payload any) (bool, error) {
	if err := checkTaskID(taskID); err != nil {
		return false, fmt.Errorf("sending event %q to task %d: %w", name, taskID, err)
	}
	if strings.HasPrefix(name, updatePrefix) {
		return false, fmt.Errorf("sending event %q to task %d: %w: the name begins with %q, reserved for updates: send an update with engine.Update, which reads its answer", name, taskID, store.ErrInvalid, updatePrefix)
	}
	return e.sendEvent(ctx, taskID, name, key, payload, "event "+quoteName(name), "event payload")
}

// sendEvent is SendEvent without the check of the name's prefix (Update
// sends its events through it); what names what is sent in its errors
// (`event "go"`, `update "bump" (id "u1")`: the caller's words, not the
// event an update travels as), and payloadWhat its payload ("event
// payload", `argument of update "bump" (id "u1")`).
func (e *Engine) sendEvent(ctx context.Context, taskID int64, name, key string, payload any, what, payloadWhat string) (bool, error) {
	// Checked here, not left to the store, so the refusal is one message
	// that names the problem (the store's, wrapped, read "sending event
	// to task 7: sending event: name: is required").
	if msg := checkStoreName("event name", name); msg != "" {
		return false, fmt.Errorf("sending an event to task %d: %w: %s", taskID, store.ErrInvalid, msg)
	}
	if err := (&store.SendEventParams{TaskID: taskID, Name: name, Key: key}).Validate(); err != nil {
		return false, fmt.Errorf("sending %s to task %d: %w", what, taskID, err)
	}
	doc, err := json.Marshal(payload)
	if err != nil {
		// The caller's mistake, as a bad name is (Start's is ErrInvalidInput).
		return false, fmt.Errorf("sending %s to task %d: %w: encoding the %s: %w", what, taskID, store.ErrInvalid, payloadWhat, err)
	}
	if doc, err = e.encodeChecked(payloadWhat, doc); err != nil {
		return false, fmt.Errorf("sending %s to task %d: %w", what, taskID, err)
	}
	created := false
	sp := &store.SendEventParams{TaskID: taskID, Name: name, Key: key, Payload: doc, Now: e.now()}
	err = e.st.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		s := e.st.WithTx(tx)
		// The send holds the task's events first, and the task is read
		// after, so the decision is on its state as of then: read before,
		// on Postgres, a workflow that ended (or continued) while the
		// send waited for the events was judged on its state before.
		_, c, err := s.SendEvent(ctx, sp)
		if err != nil {
			return err
		}
		if c {
			// Wakes the workflow, and first waits for a driver whose
			// end is being committed (see WakeTask): the task read
			// below sees how it ended, or that driver waits for this
			// transaction, which sent before it ended.
			if _, err := s.WakeTask(ctx, &store.WakeTaskParams{TaskID: taskID, Now: e.now()}); err != nil {
				return err
			}
		}
		d, err := s.GetTask(ctx, taskID)
		if err != nil {
			return err
		}
		switch {
		case d.Task.Kind != store.KindCode:
			return fmt.Errorf("%w: task %d is a DAG task; only code-first workflows read events", ErrEventRefused, taskID)
		case !c:
			// Sent before (a sender whose reply was lost sends again):
			// it stands, even if the workflow has finished since.
			return nil
		case d.Task.State.Terminal():
			// Refused: the rollback takes the event back out. A run
			// with a next run (Runs links them: continued, or cancelled
			// as it continued) refers the sender to the chain.
			if next, err := e.nextRun(ctx, s, d); err != nil {
				return err
			} else if next != 0 {
				return refuseContinued(ctx, s, d.Task, next, sp)
			}
			return fmt.Errorf("%w: task %d is %s; no workflow will read it", ErrEventRefused, taskID, d.Task.State)
		case d.Task.State == store.TaskError && pastTimeout(d.Task):
			// As finished as a complete task: its deadline has passed,
			// Retry refuses it, and no run will read the event.
			return fmt.Errorf("%w: task %d failed its WithWorkflowTimeout, and no run starts after its deadline; no workflow will read it", ErrEventRefused, taskID)
		}
		// A run whose next run exists, not finished yet (ContinueAsNew has
		// just returned in it): its unread events have gone to the next
		// run, and this one would stay behind, read by no one. The store's
		// SendEvent holds the task until this transaction ends, and the
		// move takes it first: either the move waits and then takes this
		// event along, or this read comes after the move and sees the
		// next run, created before it.
		if next, err := nextRunOf(ctx, s, d.Task); err != nil {
			return err
		} else if next != 0 {
			return refuseContinued(ctx, s, d.Task, next, sp)
		}
		created = true
		return nil
	})
	switch {
	case errors.Is(err, errMovedOn): // rolled back: a repeat, found where it went
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sending %s to task %d: %w", what, taskID, err)
	}
	if created {
		e.Notify()
	}
	return created, nil
}

// errMovedOn rolls back a send that repeats an event a later run of the
// chain holds (refuseContinued).
var errMovedOn = errors.New("the event moved on to a later run")

// refuseContinued refuses p, an event new to t, a run continued as new by
// next: the workflow reads its events there. But where a run of the chain
// from next on holds that event (its name and key), ContinueAsNew moved it
// there unread: p repeats an event t received, which SendEvent does not
// refuse (errMovedOn). Each run is read in turn, holding nothing: an event
// only moves on to a run created before the move, so one moved on from a
// run after it was read is found in a run read after.
func refuseContinued(ctx context.Context, s store.Store, t *store.Task, next int64, p *store.SendEventParams) error {
	refused := fmt.Errorf("%w: task %d continued as new as task %d: send it to the chain's last run (Engine.Runs)", ErrEventRefused, t.ID, next)
	if p.Key == "" { // every such send is a new event
		return refused
	}
	for run := next; run != 0; {
		held, err := s.HasEvent(ctx, run, p.Name, p.Key)
		switch {
		case err != nil:
			return err
		case held:
			return errMovedOn
		}
		if run, err = nextRunOf(ctx, s, &store.Task{ID: run, Namespace: t.Namespace, Name: t.Name}); err != nil {
			return err
		}
	}
	return refused
}
