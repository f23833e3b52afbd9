package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// codeTask creates a code-first task (one driver step) and claims its driver.
func codeTask(t *testing.T, b *bundle) (*store.TaskDetail, *store.ClaimedStep) {
	t.Helper()
	p := b.params([]store.NewStep{{Name: "workflow", Handler: "workflow:test/flow", Retryable: true, RetryLimit: 5}})
	p.Kind = store.KindCode
	res, err := b.s.CreateTask(b.ctx, p)
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	return b.get(t, res.Task.ID), b.claimOne(t, "workflow")
}

func (b *bundle) record(t *testing.T, p store.RecordStepParams) *store.Step {
	t.Helper()
	if p.Handler == "" {
		p.Handler = "workflow.step"
	}
	if p.Now.IsZero() {
		p.Now = b.now
	}
	st, err := b.s.RecordStep(b.ctx, &p)
	if err != nil {
		t.Fatalf("RecordStep(%d %s): %v", p.Sequence, p.Name, err)
	}
	return st
}

// testRecordStep: durable steps are written under the driver's lease, are
// never claimed, and keep the task's unfinished count right; an exhausted
// one goes to error without failing the task (the workflow decides), and
// RetryTask gives only the durable row it names fresh attempts.
func testRecordStep(t *testing.T, b *bundle) {
	d, driver := codeTask(t, b)
	id := d.Task.ID
	lease := driver.Step.Lease()
	one := b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 1, Name: "charge#1", Kind: store.OutcomeComplete, Results: store.JSON(`{"ok":true}`)})
	if one.State != store.StepComplete || one.Attempts != 1 || one.Sequence == nil || *one.Sequence != 1 || !sameJSON(one.Results, `{"ok":true}`) {
		t.Fatalf("recorded step = %+v", one)
	}
	// A stale lease writes nothing.
	_, err := b.s.RecordStep(b.ctx, &store.RecordStepParams{Driver: store.Lease{StepID: lease.StepID, Token: lease.Token + 1}, TaskID: id,
		Sequence: 2, Name: "x#2", Handler: "workflow.step", Kind: store.OutcomeComplete, Now: b.now})
	wantErr(t, err, store.ErrLeaseLost)
	// A different name at a recorded sequence is refused.
	_, err = b.s.RecordStep(b.ctx, &store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 1, Name: "refund#1", Handler: "workflow.step", Kind: store.OutcomeComplete, Now: b.now})
	wantErr(t, err, store.ErrConflict, "charge#1")
	// A retryable failure waits for its backoff and is never claimed.
	two := b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 2, Name: "ship#2", Kind: store.OutcomeRetry,
		Retryable: true, RetryLimit: 2, RetryAfter: time.Minute, Error: store.JSON(`{"error":"flaky"}`)})
	if two.State != store.StepPending || two.Attempts != 1 || !two.NextAttemptAt.Equal(b.now.Add(time.Minute)) {
		t.Fatalf("after a retryable failure: %+v", two)
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed durable rows %v", names(got))
	}
	if got := b.get(t, id).Task; got.Unfinished != 2 || got.State != store.TaskInProgress {
		t.Fatalf("task = %s unfinished %d, want in_progress 2", got.State, got.Unfinished)
	}
	// The second failure exhausts it: the row goes to error, the task
	// carries on with only the driver unfinished.
	two = b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 2, Name: "ship#2", Kind: store.OutcomeRetry,
		Retryable: true, RetryLimit: 2, Error: store.JSON(`{"error":"flaky again"}`)})
	if two.State != store.StepError || two.Attempts != 2 {
		t.Fatalf("after exhaustion: %+v", two)
	}
	if got := b.get(t, id).Task; got.State != store.TaskInProgress || got.Unfinished != 1 {
		t.Fatalf("task = %s unfinished %d, want in_progress 1", got.State, got.Unfinished)
	}
	// A failure at once (a new row) neither counts nor fails the task.
	three := b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 3, Name: "pay#3", Kind: store.OutcomeFail,
		Error: store.JSON(`{"error":"declined"}`)})
	if got := b.get(t, id).Task; three.State != store.StepError || got.State != store.TaskInProgress || got.Unfinished != 1 {
		t.Fatalf("after a permanent failure: step %s, task %s unfinished %d", three.State, got.State, got.Unfinished)
	}
	h, err := b.s.History(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	for _, tr := range h.Steps {
		if tr.StepID == two.ID {
			moves = append(moves, *tr.FromState+">"+tr.ToState)
		}
	}
	want := "pending>in_progress pending>in_progress in_progress>pending in_progress>error"
	if len(moves) != 4 {
		t.Fatalf("history of the durable step: %v, want %s", moves, want)
	}
	// The workflow returned the failure of sequence 3: the driver fails,
	// and with it the task. A retry naming sequence 3 resets the driver and
	// that row; sequence 2 (handled) stays failed.
	b.finish(t, store.StepOutcome{Lease: lease, Kind: store.OutcomeFail, Error: store.JSON(`{"error":"declined"}`)})
	if got := b.get(t, id).Task; got.State != store.TaskError {
		t.Fatalf("task = %s after its driver failed, want error", got.State)
	}
	// A sequence at which the task has no durable step is refused, naming
	// it and the task, and changes nothing.
	before := b.get(t, id)
	_, err = b.s.RetryTask(b.ctx, &store.RetryTaskParams{TaskID: id, Sequence: 7, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "sequence", "7", fmt.Sprintf("task %d", id))
	if after := b.get(t, id); after.Task.State != store.TaskError || after.Task.Unfinished != before.Task.Unfinished ||
		after.Task.TransitionSeq != before.Task.TransitionSeq || stepStates(after) != stepStates(before) {
		t.Fatalf("refused retry changed the task: %s unfinished %d, steps %s; was %s unfinished %d, steps %s",
			after.Task.State, after.Task.Unfinished, stepStates(after), before.Task.State, before.Task.Unfinished, stepStates(before))
	}
	if _, err := b.s.RetryTask(b.ctx, &store.RetryTaskParams{TaskID: id, Sequence: 3, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	got := b.get(t, id)
	states := map[string]store.StepState{}
	for _, st := range got.Steps {
		states[st.Name] = st.State
	}
	if got.Task.State != store.TaskPending || got.Task.Unfinished != 2 || states["workflow"] != store.StepPending ||
		states["pay#3"] != store.StepPending || states["ship#2"] != store.StepError {
		t.Fatalf("after the retry: task %s unfinished %d, steps %v", got.Task.State, got.Task.Unfinished, states)
	}
	checkHistoryMatches(t, b, id)
}

// testWakeLeavesADelayedStart: WakeTask (an event sent) does not bring a
// task's delayed start (NotBefore) forward: its driver stays unclaimable
// until its time, then runs as any.
func testWakeLeavesADelayedStart(t *testing.T, b *bundle) {
	p := b.params([]store.NewStep{{Name: "workflow", Handler: "workflow:test/later", Retryable: true, RetryLimit: 5, NotBefore: b.now.Add(time.Hour)}})
	p.Kind = store.KindCode
	res, err := b.s.CreateTask(b.ctx, p)
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	woke, err := b.s.WakeTask(b.ctx, &store.WakeTaskParams{TaskID: res.Task.ID, Now: b.now})
	if err != nil || woke {
		t.Fatalf("WakeTask of a task not started = %v, %v; want false", woke, err)
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("WakeTask started a delayed task early: %v", names(got))
	}
	st := b.get(t, res.Task.ID).Step("workflow")
	if !st.NextAttemptAt.Equal(b.now.Add(time.Hour)) {
		t.Fatalf("the delayed driver's next attempt = %v, want %v", st.NextAttemptAt, b.now.Add(time.Hour))
	}
}

// testSuspendAndWake: a suspended driver returns to pending without
// counting the attempt, waits until its time, and WakeTask (or a waiting
// event named by WakeOnEvents) makes it ready at once.
func testSuspendAndWake(t *testing.T, b *bundle) {
	d, driver := codeTask(t, b)
	id := d.Task.ID
	res := b.finish(t, store.StepOutcome{Lease: driver.Step.Lease(), Kind: store.OutcomeSuspend, RetryAfter: time.Hour, Metadata: store.JSON(`{"reason":"sleep"}`)})
	if res.Steps[0].State != store.StepPending || len(res.Tasks) != 0 {
		t.Fatalf("suspend = %+v", res)
	}
	st, err := b.s.GetStep(b.ctx, driver.Step.ID)
	if err != nil || st.Attempts != 0 || !st.NextAttemptAt.Equal(b.now.Add(time.Hour)) {
		t.Fatalf("suspended driver = %+v, %v", st, err)
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed a suspended driver early: %v", names(got))
	}
	if next, ok, err := b.s.NextWakeup(b.ctx); err != nil || !ok || next.After(b.now.Add(time.Hour)) {
		t.Fatalf("NextWakeup = %v %v %v", next, ok, err)
	}
	woke, err := b.s.WakeTask(b.ctx, &store.WakeTaskParams{TaskID: id, Now: b.now})
	if err != nil || !woke {
		t.Fatalf("WakeTask = %v, %v", woke, err)
	}
	driver = b.claimOne(t, "workflow")
	if driver.Step.Attempts != 1 {
		t.Fatalf("attempts after a suspension = %d, want 1", driver.Step.Attempts)
	}
	// An event already waiting makes a suspension that names it end at once.
	if _, _, err := b.s.SendEvent(b.ctx, &store.SendEventParams{TaskID: id, Name: "approval", Key: "k", Payload: store.JSON(`{"ok":1}`), Now: b.now}); err != nil {
		t.Fatal(err)
	}
	b.finish(t, store.StepOutcome{Lease: driver.Step.Lease(), Kind: store.OutcomeSuspend, RetryAfter: time.Hour, WakeOnEvents: []string{"other"}})
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("an event of another name woke the driver")
	}
	if _, err := b.s.WakeTask(b.ctx, &store.WakeTaskParams{TaskID: id, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	driver = b.claimOne(t, "workflow")
	b.finish(t, store.StepOutcome{Lease: driver.Step.Lease(), Kind: store.OutcomeSuspend, RetryAfter: time.Hour, WakeOnEvents: []string{"nope", "approval"}})
	driver = b.claimOne(t, "workflow")
	// The wait consumes the event and records it as the step's result.
	lease := driver.Step.Lease()
	w := b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 1, Name: "approval#1", Handler: "workflow.event",
		Kind: store.OutcomeSuspend, RetryAfter: time.Hour, ConsumeEvent: "approval"})
	var got struct {
		Key     string          `json:"key"`
		Payload json.RawMessage `json:"payload"`
	}
	if w.State != store.StepComplete || json.Unmarshal(w.Results, &got) != nil || got.Key != "k" || !sameJSON(store.JSON(got.Payload), `{"ok":1}`) {
		t.Fatalf("event wait = %+v (%s)", w, w.Results)
	}
	// With no event left, a wait is a pending row whose first deadline holds.
	w2 := b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 2, Name: "approval#2", Handler: "workflow.event",
		Kind: store.OutcomeSuspend, RetryAfter: time.Hour, ConsumeEvent: "approval"})
	again := b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 2, Name: "approval#2", Handler: "workflow.event",
		Kind: store.OutcomeSuspend, RetryAfter: 5 * time.Hour, ConsumeEvent: "approval", Now: b.now.Add(time.Minute)})
	if w2.State != store.StepPending || !again.NextAttemptAt.Equal(b.now.Add(time.Hour)) {
		t.Fatalf("waits = %+v / %+v", w2, again)
	}
	b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 2, Name: "approval#2", Handler: "workflow.event",
		Kind: store.OutcomeComplete, Results: store.JSON(`{"timeout":true}`)})
	// The driver completing completes the task: every durable row is done.
	res = b.finish(t, complete(driver, `{"receipt":1}`))
	if len(res.Tasks) != 1 || res.Tasks[0].To != store.TaskComplete {
		t.Fatalf("finishing the driver: %+v", res)
	}
	if _, err := b.s.RecordStep(b.ctx, &store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 3, Name: "late#3", Handler: "workflow.step", Kind: store.OutcomeComplete}); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("recording after the driver finished: %v", err)
	}
	checkHistoryMatches(t, b, id)
}

// checkHistoryMatches: every step's state equals its most recent transition.
func checkHistoryMatches(t *testing.T, b *bundle, id int64) {
	t.Helper()
	h, err := b.s.History(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	last := map[int64]string{}
	for _, tr := range h.Steps {
		if tr.MostRecent {
			last[tr.StepID] = tr.ToState
		}
	}
	for _, s := range b.get(t, id).Steps {
		if l, ok := last[s.ID]; ok && l != string(s.State) {
			t.Errorf("step %s is %s but its most recent transition is to %s", s.Name, s.State, l)
		}
	}
}

func sameJSON(a store.JSON, b string) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// First attempts (completions) of several tasks' durable steps are recorded
// together; a stale driver's item is refused alone; a row that exists
// already fails the whole group, which then writes nothing.
func testRecordAttempts(t *testing.T, b *bundle) {
	d1, c1 := codeTask(t, b)
	d2, c2 := codeTask(t, b)
	item := func(c *store.ClaimedStep, id int64, seq int, name string) *store.RecordStepParams {
		return &store.RecordStepParams{Driver: c.Step.Lease(), TaskID: id, Sequence: seq, Name: fmt.Sprintf("%s#%d", name, seq),
			Handler: "workflow.step", Kind: store.OutcomeComplete, Results: store.JSON(`{"n":` + fmt.Sprint(seq) + `}`), Attempt: 1, Now: b.now}
	}
	stale := item(c2, d2.Task.ID, 9, "late")
	stale.Driver.Token++
	res, err := b.s.RecordAttempts(b.ctx, []*store.RecordStepParams{
		item(c1, d1.Task.ID, 1, "charge"), item(c2, d2.Task.ID, 1, "charge"), item(c1, d1.Task.ID, 2, "ship"), stale})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res[:3] {
		if r.Err != nil || r.Step == nil || r.Step.State != store.StepComplete || r.Step.Attempts != 1 || r.Step.Sequence == nil {
			t.Fatalf("item %d: %+v", i, r)
		}
	}
	if !errors.Is(res[3].Err, store.ErrLeaseLost) || res[3].Step != nil {
		t.Fatalf("stale driver's item: %+v", res[3])
	}
	checkHistoryMatches(t, b, d1.Task.ID)
	if got := b.get(t, d1.Task.ID); len(got.Steps) != 3 || got.Task.Unfinished != 1 {
		t.Fatalf("task 1 has %d steps, %d unfinished; want driver + 2 durable, 1 unfinished", len(got.Steps), got.Task.Unfinished)
	}
	_, steps := b.totals(t)
	_, err = b.s.RecordAttempts(b.ctx, []*store.RecordStepParams{item(c2, d2.Task.ID, 2, "ship"), item(c1, d1.Task.ID, 1, "charge")})
	if err == nil {
		t.Fatal("a group with an existing row was accepted")
	}
	if _, after := b.totals(t); after != steps {
		t.Fatalf("the refused group wrote %d steps", after-steps)
	}
}

// testSuspendWakesOnFinishedTask: a suspension naming tasks (its children)
// ends at once when one of them has already finished — the child that
// finished while the parent was committing its suspension — and not while
// none has.
func testSuspendWakesOnFinishedTask(t *testing.T, b *bundle) {
	d, driver := codeTask(t, b)
	child := b.create(t, chain("only"))
	b.finish(t, store.StepOutcome{Lease: driver.Step.Lease(), Kind: store.OutcomeSuspend, RetryAfter: time.Hour, WakeOnTasks: []int64{child.Task.ID}})
	if got := b.claim(t, 10); len(got) != 1 || got[0].Step.Name != "only" {
		t.Fatalf("with the child unfinished the suspended driver was claimable: %v", names(got))
	} else {
		b.finish(t, complete(got[0], `{}`)) // the child finishes; the driver is not running
	}
	if _, err := b.s.WakeTask(b.ctx, &store.WakeTaskParams{TaskID: d.Task.ID, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	driver = b.claimOne(t, "workflow")
	b.finish(t, store.StepOutcome{Lease: driver.Step.Lease(), Kind: store.OutcomeSuspend, RetryAfter: time.Hour, WakeOnTasks: []int64{child.Task.ID + 1000, child.Task.ID}})
	if d := b.claimOne(t, "workflow"); d.Step.Attempts != 1 {
		t.Fatalf("driver attempts after waking = %d", d.Step.Attempts)
	}
}

// stepStates lists a task's steps as name=state, in the store's order.
func stepStates(d *store.TaskDetail) string {
	var out []string
	for _, st := range d.Steps {
		out = append(out, fmt.Sprintf("%s=%s/%d", st.Name, st.State, st.Attempts))
	}
	return strings.Join(out, " ")
}

// testResolveStepOfFinishedTask: a step of a finished task is not
// resolved (ErrIllegalTransition, naming the task's state), and nothing
// changes: a durable step whose failure the workflow handled before it
// completed was counted back as unfinished and the task completed a
// second time, refused by the database ("UNIQUE constraint failed").
func testResolveStepOfFinishedTask(t *testing.T, b *bundle) {
	d, driver := codeTask(t, b)
	id := d.Task.ID
	failed := b.record(t, store.RecordStepParams{Driver: driver.Step.Lease(), TaskID: id, Sequence: 1, Name: "charge#1", Kind: store.OutcomeFail,
		Error: store.JSON(`{"error":"declined"}`)})
	if _, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{complete(driver, `"handled"`)}, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	before, err := b.s.History(b.ctx, id)
	if err != nil || b.get(t, id).Task.State != store.TaskComplete {
		t.Fatalf("the workflow did not complete: %v", err)
	}
	_, err = b.s.ResolveStep(b.ctx, &store.ResolveStepParams{StepID: failed.ID, Now: b.now})
	wantErr(t, err, store.ErrIllegalTransition, fmt.Sprintf("task %d is complete", id))
	after, err := b.s.History(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got := b.get(t, id)
	if got.Task.State != store.TaskComplete || got.Task.Unfinished != 0 || got.Step("charge#1").State != store.StepError ||
		len(after.Task) != len(before.Task) || len(after.Steps) != len(before.Steps) {
		t.Fatalf("the refused resolve left task %s (unfinished %d), step %s, %d+%d transitions (were %d+%d)", got.Task.State, got.Task.Unfinished,
			got.Step("charge#1").State, len(after.Task), len(after.Steps), len(before.Task), len(before.Steps))
	}
}

// testResolveDriverOfFailedCodeTask: a code-first task in error (here, past
// its deadline while it slept) is closed by resolving its driver: the
// driver takes the operator's results (the workflow's return value), the
// task moves error → resolved_manually, its unfinished durable rows (the
// sleep) are cancelled and the failures it recorded stay as they are.
// Resolving the driver left the task in error, or sent it back to pending
// with no driver to run it: no operator action could close it.
func testResolveDriverOfFailedCodeTask(t *testing.T, b *bundle) {
	p := b.params([]store.NewStep{{Name: "workflow", Handler: "workflow:test/flow", Retryable: true, RetryLimit: 5}})
	p.Kind, p.Deadline = store.KindCode, time.Minute
	created, err := b.s.CreateTask(b.ctx, p)
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	id := created.Task.ID
	driver := b.claimOne(t, "workflow")
	lease := driver.Step.Lease()
	b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 1, Name: "charge#1", Kind: store.OutcomeFail, Error: store.JSON(`{"error":"declined"}`)})
	b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 2, Name: "sleep#2", Handler: "workflow.sleep", Kind: store.OutcomeSuspend, RetryAfter: time.Hour})
	b.finish(t, store.StepOutcome{Lease: lease, Kind: store.OutcomeSuspend, RetryAfter: time.Hour})
	swept, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: b.now.Add(2 * time.Minute), DeadlineCause: store.JSON(`{"kind":"workflow_timeout"}`)})
	if err != nil || swept.TimedOut != 1 || b.get(t, id).Task.State != store.TaskError {
		t.Fatalf("the deadline sweep: %+v, %v; want the task in error", swept, err)
	}

	res, err := b.s.ResolveStep(b.ctx, &store.ResolveStepParams{StepID: driver.Step.ID, Results: store.JSON(`{"total":5}`),
		Metadata: store.JSON(`{"reason":"operator resolved"}`), Now: b.now.Add(3 * time.Minute)})
	if err != nil {
		t.Fatalf("ResolveStep of the driver of a code-first task in error: %v", err)
	}
	if len(res.Tasks) != 1 || res.Tasks[0] != (store.TaskChange{TaskID: id, From: store.TaskError, To: store.TaskResolvedManually}) {
		t.Fatalf("the resolve's task moves = %+v, want error → resolved_manually", res.Tasks)
	}
	got := b.get(t, id)
	if got.Task.State != store.TaskResolvedManually || got.Task.Unfinished != 0 || got.Task.CompletedAt == nil || len(got.Task.LastError) != 0 {
		t.Fatalf("task %s, unfinished %d, completed at %v, last error %s; want resolved_manually, 0, set, none",
			got.Task.State, got.Task.Unfinished, got.Task.CompletedAt, got.Task.LastError)
	}
	if s := got.Step("workflow"); s.State != store.StepResolvedManually || !sameJSON(s.Results, `{"total":5}`) {
		t.Fatalf("driver %s with %s, want resolved_manually with the operator's results", s.State, s.Results)
	}
	if st := stepStates(got); !strings.Contains(st, "charge#1=error") || !strings.Contains(st, "sleep#2=cancelled") {
		t.Fatalf("steps %s: want the recorded failure kept and the sleep cancelled", st)
	}
	checkHistoryMatches(t, b, id)
	if c := b.claim(t, 10); len(c) != 0 {
		t.Fatalf("claimed %v of a resolved task", names(c))
	}
	// Resolved, the task is finished: a second resolve is refused.
	_, err = b.s.ResolveStep(b.ctx, &store.ResolveStepParams{StepID: driver.Step.ID, Now: b.now.Add(4 * time.Minute)})
	wantErr(t, err, store.ErrIllegalTransition)
	// And retention deletes it, as any finished task; a task in error was kept.
	n, err := b.s.DeleteFinished(b.ctx, &store.DeleteFinishedParams{Before: b.now.Add(time.Hour), Now: b.now.Add(time.Hour)})
	if err != nil || n != 1 {
		t.Fatalf("DeleteFinished after the resolve = %d, %v; want the resolved task deleted", n, err)
	}
}
