package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/tasker-go/tasker/store"
)

// Durable rows of timers and selections.
const (
	kindTimer  = "workflow.timer"
	kindSelect = "workflow.select"
)

// selectRecheck is how long a Select with no timer waits before it looks
// again. Only a safety net: an event sent to the workflow wakes it at once.
const selectRecheck = 24 * time.Hour

// Timer is a durable timer (NewTimer): a deadline recorded in the
// workflow's history, for Select.
type Timer struct {
	at time.Time
}

// Deadline is when the timer fires.
func (t *Timer) Deadline() time.Time { return t.at }

type timerResult struct {
	At time.Time `json:"at"`
}

// NewTimer starts a durable timer that fires d from now. Its deadline is
// recorded on first reach, so every replay sees the same one; pass it to
// Select (OnTimer). A timer nobody selects costs nothing. A d of 0 or less
// fires at once; a positive d under a millisecond fails the workflow: a
// bare number is nanoseconds (NewTimer(w, 30) would fire after 30 ns).
func NewTimer(wctx *WorkflowContext, d time.Duration) *Timer {
	mustContext(wctx, "engine.NewTimer")
	seq, rec, err := wctx.begin("timer", kindTimer)
	if err != nil {
		return &Timer{at: wctx.now().Add(max(d, 0))} // the run is stopping; nothing will select it
	}
	if rec == nil { // (a timer recorded before replays as it was)
		if err := underAMillisecond("engine.NewTimer", d); err != nil {
			wctx.failWith(Permanent(err)) // the run stops: Select returns the failure
			return &Timer{at: wctx.now().Add(d)}
		}
		doc := store.MustJSON(timerResult{At: wctx.now().Add(max(d, 0)).UTC()})
		if rec, err = wctx.record(store.RecordStepParams{Sequence: seq, Name: "timer", Handler: kindTimer, Kind: store.OutcomeComplete, Results: doc}); err != nil {
			return &Timer{at: wctx.now().Add(max(d, 0))}
		}
	}
	var r timerResult
	if err := json.Unmarshal(rec.Results, &r); err != nil {
		wctx.failWith(Permanent(fmt.Errorf("decoding the recorded timer (sequence %d): %w", seq, err)))
	}
	return &Timer{at: r.At}
}

// SleepUntil suspends the workflow until t, durably (see Sleep). The wait
// is recorded as a sleep: a replay waits for the same moment. A t a moment
// away (under a millisecond) is waited for, not refused: the engine
// computes that duration, the caller did not write it. The zero time (a
// time.Time left unset) fails the workflow, as StartAt refuses it.
func SleepUntil(wctx *WorkflowContext, t time.Time) error {
	mustContext(wctx, "engine.SleepUntil")
	var refused error
	if t.IsZero() {
		refused = errors.New("engine.SleepUntil: the time is zero (a time.Time left unset): pass when to wake")
	}
	return sleep(wctx, t.Sub(wctx.e.clk.Now()), "", refused)
}

// SelectCase is one alternative of Select: OnFuture, OnEvent or OnTimer.
type SelectCase struct {
	kind   string                         // "future", "event", "timer"
	ready  func() (bool, <-chan struct{}) // futures: resolved, or still running here
	event  string
	decode func(json.RawMessage) error // events: into the caller's variable
	// decodeEvent, when set, replaces decode and also gets the event's key.
	decodeEvent func(key string, payload json.RawMessage) error
	timer       *Timer
	future      any // futures: the *Future[T], told apart by repeatedCases
	// misuse, when set, says why Select refuses the case (checkCases).
	misuse string
}

// OnFuture is ready when the durable step behind f has finished (Get then
// returns its result or its *StepFailedError at once).
func OnFuture[T any](f *Future[T]) SelectCase {
	if f == nil {
		return SelectCase{kind: "future"} // refused by Select (checkCases)
	}
	f.read.Store(true) // its failure, if any, is the workflow's to read (see warnUnread)
	return SelectCase{kind: "future", future: f, ready: func() (bool, <-chan struct{}) {
		select {
		case <-f.done:
			// A future stopped by a suspension (a retry's backoff) or by
			// the run ending is not finished.
			return f.err == nil || errors.Is(f.err, ErrStepFailed), nil
		default:
			return false, f.done
		}
	}}
}

// OnEvent is ready when an event of that name was sent to the workflow
// (Engine.SendEvent); Select consumes it and decodes its payload into dst
// (which may be nil to ignore it), the same on every replay. A name
// beginning with "update:", which only updates carry, fails the workflow:
// select an update with OnUpdate; so does a dst of a type JSON cannot
// carry (a func, a channel).
func OnEvent[T any](name string, dst *T) SelectCase {
	c := onEvent(name, dst)
	if strings.HasPrefix(name, updatePrefix) { // SendEvent refuses it
		c.misuse = fmt.Sprintf("OnEvent(%s): %s", quoteName(name), reservedForUpdates("engine.OnUpdate"))
	} else if msg := unencodable(reflect.TypeFor[T]()); msg != "" && dst != nil { // (a nil dst ignores the payload)
		c.misuse = fmt.Sprintf("OnEvent(%s): its payload type %s", quoteName(name), msg)
	}
	return c
}

// onEvent is OnEvent, also for the events that carry updates (OnUpdate).
func onEvent[T any](name string, dst *T) SelectCase {
	return SelectCase{kind: "event", event: name, decode: func(raw json.RawMessage) error {
		if dst == nil || len(raw) == 0 {
			return nil
		}
		return json.Unmarshal(raw, dst)
	}}
}

// OnTimer is ready once the timer's deadline has passed.
func OnTimer(t *Timer) SelectCase { return SelectCase{kind: "timer", timer: t} }

// selectResult is a selection's recorded result: the case for futures and
// timers; the store's consumed-event document (with the event's name) for
// events.
type selectResult struct {
	Case    *int            `json:"case,omitempty"`
	Kind    string          `json:"kind,omitempty"`
	Name    string          `json:"name,omitempty"`
	Key     string          `json:"key,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Select waits, durably, for the first of several cases — futures of
// durable steps (OnFuture), events (OnEvent), timers (OnTimer) — and
// returns the index of the one that won. When several are ready, the
// earliest in the list wins. The choice is recorded, so a replay returns
// the same index whatever order things happen in afterwards; an event that
// did not win stays unconsumed for a later wait.
//
//	timeout := engine.NewTimer(wctx, 72*time.Hour)
//	var ok bool
//	switch i, err := engine.Select(wctx, engine.OnEvent("approval", &ok), engine.OnTimer(timeout)); {
//	case err != nil:
//		return err
//	case i == 1:
//		... escalate ...
//	}
//
// While nothing is ready the workflow waits here while futures run, until
// one finishes or the earliest timer fires (an event sent meanwhile is seen
// then), and otherwise suspends until the earliest timer or an event
// arrives. Select refuses no cases, an event or update without a name, an
// event name SendEvent refuses (over 255 bytes, with a NUL byte, not
// UTF-8) or one with spaces around it (a select recorded with one before
// replays as it was), two events of the same name, one future or timer
// in two cases, or a nil timer or future, failing the workflow.
func Select(wctx *WorkflowContext, cases ...SelectCase) (int, error) {
	mustContext(wctx, "engine.Select")
	if err := checkCases(cases); err != nil {
		return -1, wctx.failWith(Permanent(err))
	}
	seq, rec, err := wctx.begin("select", kindSelect)
	if err != nil {
		return -1, err
	}
	// The workflow's goroutine is in here, waiting perhaps for futures,
	// until it returns (see misplaced).
	wctx.mu.Lock()
	wctx.selecting = true
	wctx.mu.Unlock()
	defer func() {
		wctx.mu.Lock()
		wctx.selecting = false
		wctx.mu.Unlock()
	}()
	if rec == nil { // (a select recorded before replays as it was)
		if err := paddedCases(cases); err != nil {
			return -1, wctx.failWith(Permanent(err))
		}
		if err := repeatedCases(cases); err != nil {
			return -1, wctx.failWith(Permanent(err))
		}
	}
	if rec != nil && rec.State.Satisfied() {
		return wctx.selected(seq, rec, cases)
	}
	for {
		var running []<-chan struct{}
		deadline := time.Time{}
		var events []string
		for i, c := range cases {
			switch c.kind {
			case "future":
				ok, wait := c.ready()
				if ok {
					return wctx.choose(seq, i, c)
				}
				if wait != nil {
					running = append(running, wait)
				}
			case "timer":
				if !wctx.now().Before(c.timer.at) {
					return wctx.choose(seq, i, c)
				}
				if deadline.IsZero() || c.timer.at.Before(deadline) {
					deadline = c.timer.at
				}
			case "event":
				events = append(events, c.event)
				rec, err := wctx.record(store.RecordStepParams{Sequence: seq, Name: "select", Handler: kindSelect, Kind: store.OutcomeSuspend, ConsumeEvent: c.event})
				if err != nil {
					return -1, err
				}
				if rec.State.Satisfied() {
					return wctx.selected(seq, rec, cases)
				}
			}
		}
		if len(running) == 0 {
			if deadline.IsZero() {
				deadline = wctx.now().Add(selectRecheck)
			}
			return -1, wctx.suspend(deadline, "select", events...)
		}
		// Until a future finishes or the earliest timer fires, whichever
		// comes first: the loop then looks at every case again.
		if err := waitAny(wctx, running, deadline); err != nil {
			return -1, err
		}
	}
}

func checkCases(cases []SelectCase) error {
	if len(cases) == 0 {
		return errors.New("engine.Select: no cases")
	}
	seen := map[string]bool{}
	for i, c := range cases {
		switch {
		case c.misuse != "":
			return fmt.Errorf("engine.Select: case %d, %s", i, c.misuse)
		case c.kind == "":
			return fmt.Errorf("engine.Select: case %d is not an OnFuture, OnEvent or OnTimer", i)
		case c.kind == "timer" && c.timer == nil:
			return fmt.Errorf("engine.Select: case %d is a nil timer", i)
		case c.kind == "future" && c.ready == nil:
			return fmt.Errorf("engine.Select: case %d is a nil future", i)
		case c.kind == "event" && c.event == "":
			return fmt.Errorf("engine.Select: case %d selects an event with no name", i)
		case c.kind == "event" && c.event == updatePrefix:
			return fmt.Errorf("engine.Select: case %d selects an update with no name", i)
		case c.kind == "event" && seen[c.event]:
			return fmt.Errorf("engine.Select: event %q is selected twice", c.event)
		case c.kind == "event":
			// SendEvent (Update) refuses such a name, and the store
			// refused it when the wait was recorded, the driver retried
			// for it.
			msg := checkStoreName("event name", c.event)
			if u, ok := strings.CutPrefix(c.event, updatePrefix); ok {
				msg = updateNameProblem(u)
			}
			if msg != "" {
				return fmt.Errorf("engine.Select: case %d, %s", i, msg)
			}
		}
		if c.kind == "event" {
			seen[c.event] = true
		}
	}
	return nil
}

// repeatedCases refuses one future or timer given in two cases: the
// earlier wins whenever it is ready, so the later could never win and its
// branch is dead — a typo for another, most likely.
func repeatedCases(cases []SelectCase) error {
	first := map[any]int{}
	for i, c := range cases {
		var id any
		switch c.kind {
		case "future":
			id = c.future
		case "timer":
			id = c.timer
		default:
			continue
		}
		if j, ok := first[id]; ok {
			return fmt.Errorf("engine.Select: cases %d and %d select the same %s: the later could never win", j, i, c.kind)
		}
		first[id] = i
	}
	return nil
}

// paddedCases refuses an event or update case whose name has spaces
// around it, as WaitEvent and ReceiveUpdate refuse one.
func paddedCases(cases []SelectCase) error {
	for i, c := range cases {
		if c.kind != "event" {
			continue
		}
		msg := spacesAround("event name", c.event)
		if u, ok := strings.CutPrefix(c.event, updatePrefix); ok {
			msg = spacesAround("update name", u)
		}
		if msg != "" {
			return fmt.Errorf("engine.Select: case %d, %s", i, msg)
		}
	}
	return nil
}

// waitAny waits for one of the futures running in this run to finish, or
// until deadline (the earliest timer's, by the store's clock; zero: none):
// a timer that fires while a step runs wins over it, as a deadline on the
// step must.
func waitAny(wctx *WorkflowContext, running []<-chan struct{}, deadline time.Time) error {
	cs := make([]reflect.SelectCase, 0, len(running)+2)
	for _, ch := range running {
		cs = append(cs, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	cs = append(cs, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(wctx.Done())})
	if !deadline.IsZero() {
		cs = append(cs, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(wctx.e.clk.After(deadline.Sub(wctx.now())))})
	}
	if i, _, _ := reflect.Select(cs); i == len(running) {
		return wctx.abortWith(context.Cause(wctx.Context))
	}
	return nil
}

// choose records that case i (a future or a timer) won.
func (w *WorkflowContext) choose(seq, i int, c SelectCase) (int, error) {
	doc := store.MustJSON(selectResult{Case: &i, Kind: c.kind})
	if _, err := w.record(store.RecordStepParams{Sequence: seq, Name: "select", Handler: kindSelect, Kind: store.OutcomeComplete, Results: doc}); err != nil {
		return -1, err
	}
	return i, nil
}

// selected returns the recorded winner, checked against the cases.
func (w *WorkflowContext) selected(seq int, rec *store.Step, cases []SelectCase) (int, error) {
	var r selectResult
	if err := json.Unmarshal(rec.Results, &r); err != nil {
		return -1, w.failWith(Permanent(fmt.Errorf("decoding the recorded selection (sequence %d): %w", seq, err)))
	}
	if r.Case == nil { // an event won
		for i, c := range cases {
			if c.kind == "event" && c.event == r.Name {
				decode := c.decode
				if c.decodeEvent != nil {
					decode = func(p json.RawMessage) error { return c.decodeEvent(r.Key, p) }
				}
				payload, err := r.Payload, error(nil)
				if w.e.codec != nil { // recorded as sent
					payload, err = w.e.decode(payload)
				}
				if err == nil {
					err = decode(payload)
				}
				if err != nil {
					return -1, w.failWith(Permanent(fmt.Errorf("decoding event %s selected at sequence %d: %w", r.Name, seq, err)))
				}
				return i, nil
			}
		}
		return -1, w.failWith(&NonDeterminismError{TaskID: w.TaskID, Sequence: seq, Recorded: fmt.Sprintf("Select won by event %q", r.Name), New: "a Select without that event"})
	}
	if i := *r.Case; i < 0 || i >= len(cases) || cases[i].kind != r.Kind {
		return -1, w.failWith(&NonDeterminismError{TaskID: w.TaskID, Sequence: seq, Recorded: fmt.Sprintf("Select won by case %d (%s)", i, r.Kind), New: fmt.Sprintf("a Select of %d cases", len(cases))})
	}
	return *r.Case, nil
}
