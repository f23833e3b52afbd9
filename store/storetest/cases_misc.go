package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

func testCancelTask(t *testing.T, b *bundle) {
	d := b.create(t, chain("a", "b"))
	running := b.claimOne(t, "a")
	task, err := b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: d.Task.ID, Metadata: store.JSON(`{"by":"operator"}`)})
	if err != nil || task.State != store.TaskCancelled {
		t.Fatalf("cancel = %+v, %v", task, err)
	}
	for _, s := range b.get(t, d.Task.ID).Steps {
		if s.State != store.StepCancelled {
			t.Errorf("step %s is %s after cancel", s.Name, s.State)
		}
	}
	if res := b.finish(t, complete(running, `{}`)); !errors.Is(res.Steps[0].Err, store.ErrLeaseLost) {
		t.Fatalf("completion after cancel: %+v", res.Steps[0])
	}
	_, err = b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: d.Task.ID})
	wantErr(t, err, store.ErrIllegalTransition, "cancelled")
	// A complete task is cancelled only by force.
	done := taskIn(t, b, store.TaskComplete)
	_, err = b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: done.ID})
	wantErr(t, err, store.ErrIllegalTransition, "operator")
	if _, err := b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: done.ID, Force: true}); err != nil {
		t.Fatalf("forced cancel: %v", err)
	}
}

func testRetryTask(t *testing.T, b *bundle) {
	d := b.create(t, []store.NewStep{{Name: "a", Handler: "h", Retryable: true, RetryLimit: 1}, {Name: "b", Handler: "h", DependsOn: []string{"a"}}})
	c := b.claimOne(t, "a")
	b.finish(t, store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeRetry, Error: store.JSON(`{"error":"x"}`)})
	if st := b.get(t, d.Task.ID).Task.State; st != store.TaskError {
		t.Fatalf("task = %s, want error", st)
	}
	// A dag task has no durable steps: a sequence names none of its steps.
	_, err := b.s.RetryTask(b.ctx, &store.RetryTaskParams{TaskID: d.Task.ID, Sequence: 1, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "sequence", "1", fmt.Sprintf("task %d", d.Task.ID))
	if got := b.get(t, d.Task.ID); got.Task.State != store.TaskError || got.Step("a").State != store.StepError {
		t.Fatalf("refused retry left task %s, step a %s", got.Task.State, got.Step("a").State)
	}
	if _, err := b.s.RetryTask(b.ctx, &store.RetryTaskParams{TaskID: d.Task.ID, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	got := b.get(t, d.Task.ID)
	if got.Task.State != store.TaskPending || got.Step("a").State != store.StepPending || got.Step("a").Attempts != 0 {
		t.Fatalf("after retry: task %s, step %s attempts %d", got.Task.State, got.Step("a").State, got.Step("a").Attempts)
	}
	// The failure retried is no longer the task's (it would be reported
	// as the outcome of the run that follows); the step keeps its own.
	if len(got.Task.LastError) != 0 || len(got.Step("a").LastError) == 0 {
		t.Fatalf("after retry: task last_error %s, step last_error %s", got.Task.LastError, got.Step("a").LastError)
	}
	c = b.claimOne(t, "a")
	b.finish(t, complete(c, `{}`))
	b.finish(t, complete(b.claimOne(t, "b"), `{}`))
	if st := b.get(t, d.Task.ID).Task.State; st != store.TaskComplete {
		t.Fatalf("retried task ended %s", st)
	}
	_, err = b.s.RetryTask(b.ctx, &store.RetryTaskParams{TaskID: d.Task.ID})
	wantErr(t, err, store.ErrIllegalTransition)
}

// testRetryAndCancelBadInput: a retry or a cancel with bad parameters is
// refused for what the caller got wrong, before the task is read (whatever
// state it is in, or when there is none), and changes nothing.
func testRetryAndCancelBadInput(t *testing.T, b *bundle) {
	const missing = 1 << 40
	_, err := b.s.RetryTask(b.ctx, &store.RetryTaskParams{TaskID: missing, Sequence: -1, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "sequence", "-1")
	_, err = b.s.RetryTask(b.ctx, &store.RetryTaskParams{TaskID: missing, Metadata: store.JSON("{"), Now: b.now})
	wantErr(t, err, store.ErrInvalid, "metadata")
	_, err = b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: missing, Metadata: store.JSON("{"), Now: b.now})
	wantErr(t, err, store.ErrInvalid, "metadata")
	// A task that could not be retried (pending) or cancelled (complete,
	// without force): the bad input is still what is reported.
	pending := b.create(t, chain("a"))
	_, err = b.s.RetryTask(b.ctx, &store.RetryTaskParams{TaskID: pending.Task.ID, Sequence: -2, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "sequence", "-2")
	done := taskIn(t, b, store.TaskComplete)
	_, err = b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: done.ID, Metadata: store.JSON(`[1`), Now: b.now})
	wantErr(t, err, store.ErrInvalid, "metadata")
	// Refused on a task that could be moved: nothing changes.
	_, err = b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: pending.Task.ID, Metadata: store.JSON("{"), Now: b.now})
	wantErr(t, err, store.ErrInvalid, "metadata")
	if got := b.get(t, pending.Task.ID); got.Task.State != store.TaskPending || got.Step("a").State != store.StepPending {
		t.Fatalf("refused cancel left task %s, step %s", got.Task.State, got.Step("a").State)
	}
}

// testTaskIDsRefused: an id no task (or step) can have (0, negative) is the
// caller's mistake, refused as ErrInvalid naming it, not ErrNotFound; a
// move with one changes nothing.
func testTaskIDsRefused(t *testing.T, b *bundle) {
	d := b.create(t, chain("a"))
	for _, id := range []int64{0, -1} {
		bad := fmt.Sprint(id)
		_, err := b.s.GetTask(b.ctx, id)
		wantErr(t, err, store.ErrInvalid, "id", bad)
		_, err = b.s.GetWorkflowHistory(b.ctx, id)
		wantErr(t, err, store.ErrInvalid, "id", bad)
		_, err = b.s.History(b.ctx, id)
		wantErr(t, err, store.ErrInvalid, "task_id", bad)
		_, err = b.s.GetTaskOutcomes(b.ctx, []int64{d.Task.ID, id})
		wantErr(t, err, store.ErrInvalid, "ids[1]", bad)
		_, err = b.s.GetTasks(b.ctx, []int64{id})
		wantErr(t, err, store.ErrInvalid, "ids[0]", bad)
		_, err = b.s.TasksDone(b.ctx, []int64{id})
		wantErr(t, err, store.ErrInvalid, "ids[0]", bad)
		_, err = b.s.GetWorkflowValue(b.ctx, id, store.ValueQuery, "q")
		wantErr(t, err, store.ErrInvalid, "task_id", bad)
		_, err = b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: id, Now: b.now})
		wantErr(t, err, store.ErrInvalid, "task_id", bad)
		_, err = b.s.RetryTask(b.ctx, &store.RetryTaskParams{TaskID: id, Now: b.now})
		wantErr(t, err, store.ErrInvalid, "task_id", bad)
		_, err = b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: id, From: store.TaskPending, To: store.TaskCancelled, Now: b.now})
		wantErr(t, err, store.ErrInvalid, "task_id", bad)
		_, _, err = b.s.SendEvent(b.ctx, &store.SendEventParams{TaskID: id, Name: "e", Now: b.now})
		wantErr(t, err, store.ErrInvalid, "task_id", bad)
		// and a step id below 1
		_, err = b.s.GetStep(b.ctx, id)
		wantErr(t, err, store.ErrInvalid, "id", "must be a step id", bad)
		_, err = b.s.TransitionStep(b.ctx, &store.TransitionStepParams{StepID: id, From: store.StepPending, To: store.StepCancelled, Now: b.now})
		wantErr(t, err, store.ErrInvalid, "step_id", bad)
		_, err = b.s.ResolveStep(b.ctx, &store.ResolveStepParams{StepID: id, Now: b.now})
		wantErr(t, err, store.ErrInvalid, "step_id", bad)
		// WakeTask answered false (nothing to wake), as for a task
		// that has nothing due.
		_, err = b.s.WakeTask(b.ctx, &store.WakeTaskParams{TaskID: id, Now: b.now})
		wantErr(t, err, store.ErrInvalid, "task_id", bad)
	}
	// Reads by a name no write could have stored are refused naming it, as
	// the writes are (a NUL byte made SQLite's statement fail with
	// "unrecognized token"; invalid UTF-8 made Postgres' fail).
	for _, name := range []string{"", "a\x00b", "a\xffb"} {
		_, err := b.s.GetTaskByIdentity(b.ctx, name)
		wantErr(t, err, store.ErrInvalid, "identity_key")
		_, err = b.s.GetSchedule(b.ctx, name)
		wantErr(t, err, store.ErrInvalid, "id:")
		// DeleteSchedule answered ErrNotFound for "" (and SQLite's
		// "unrecognized token" for a NUL), where GetSchedule refuses it.
		err = b.s.DeleteSchedule(b.ctx, name)
		wantErr(t, err, store.ErrInvalid, "id:")
		_, err = b.s.RateLimitState(b.ctx, name)
		wantErr(t, err, store.ErrInvalid, "system:")
		_, err = b.s.RunningInGroup(b.ctx, name)
		wantErr(t, err, store.ErrInvalid, "group:")
	}
	if got := b.get(t, d.Task.ID); got.Task.State != store.TaskPending || got.Step("a").State != store.StepPending {
		t.Fatalf("refused moves left task %s, step %s", got.Task.State, got.Step("a").State)
	}
	if tasks, _ := b.totals(t); tasks != 1 {
		t.Fatalf("refused moves left %d tasks, want 1", tasks)
	}
}

func testResolveStep(t *testing.T, b *bundle) {
	d := b.create(t, []store.NewStep{{Name: "a", Handler: "h", RetryLimit: 1, Skippable: true}, {Name: "b", Handler: "h", DependsOn: []string{"a"}}})
	c := b.claimOne(t, "a")
	_, err := b.s.ResolveStep(b.ctx, &store.ResolveStepParams{StepID: c.Step.ID})
	wantErr(t, err, store.ErrIllegalTransition, "in_progress → resolved_manually")
	b.finish(t, store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeFail, Error: store.JSON(`{"error":"x"}`)})
	rs, err := b.s.ResolveStep(b.ctx, &store.ResolveStepParams{StepID: c.Step.ID, Results: store.JSON(`{"manual":true}`)})
	if err != nil || rs.Step.State != store.StepResolvedManually {
		t.Fatalf("resolve = %+v, %v", rs, err)
	}
	if got := b.get(t, d.Task.ID).Task; got.State != store.TaskPending || len(got.LastError) != 0 {
		t.Fatalf("task after resolving its failed step = %s with last_error %s, want pending with none", got.State, got.LastError)
	}
	next := b.claimOne(t, "b")
	var v map[string]bool
	if err := next.Deps["a"].Decode(&v); err != nil || !v["manual"] {
		t.Fatalf("b sees a's results %s", next.Deps["a"])
	}
	b.finish(t, complete(next, `{}`))
	if ts := b.get(t, d.Task.ID).Task.State; ts != store.TaskComplete {
		t.Fatalf("task = %s, want complete", ts)
	}
}

// testResolveStepTaskMoves: ResolveStep reports the moves of the task it
// made, and only those: a task a later commit completes is that commit's
// (the engine announces a task's end once, from whichever reports it).
func testResolveStepTaskMoves(t *testing.T, b *bundle) {
	moves := func(rs *store.ResolveStepResult) string {
		var out []string
		for _, m := range rs.Tasks {
			out = append(out, fmt.Sprintf("%d %s→%s", m.TaskID, m.From, m.To))
		}
		return strings.Join(out, ", ")
	}
	resolve := func(id int64) *store.ResolveStepResult {
		t.Helper()
		rs, err := b.s.ResolveStep(b.ctx, &store.ResolveStepParams{StepID: id, Now: b.now})
		if err != nil {
			t.Fatalf("ResolveStep(%d): %v", id, err)
		}
		return rs
	}
	// Beside a running step: no move; the commit of the running step
	// completes the task and says so.
	d := b.create(t, []store.NewStep{{Name: "a", Handler: "h"}, {Name: "b", Handler: "h"}})
	c := b.claim(t, 1)[0]
	other := map[string]string{"a": "b", "b": "a"}[c.Step.Name]
	if rs := resolve(d.Step(other).ID); len(rs.Tasks) != 0 {
		t.Fatalf("resolving %s beside a running %s moved the task: %s", other, c.Step.Name, moves(rs))
	}
	if res := b.finish(t, complete(c, `{}`)); len(res.Tasks) != 1 || res.Tasks[0].To != store.TaskComplete {
		t.Fatalf("a's commit reports task changes %+v, want its completion", res.Tasks)
	}
	// The last unfinished step of a pending task: the resolve completes it.
	d = b.create(t, []store.NewStep{{Name: "a", Handler: "h"}})
	want := fmt.Sprintf("%[1]d pending→in_progress, %[1]d in_progress→complete", d.Task.ID)
	if rs := resolve(d.Step("a").ID); moves(rs) != want {
		t.Fatalf("resolving the only step of a pending task: moves %q, want %q", moves(rs), want)
	}
	// The failed step of a failed task with another step left: back to
	// pending, not complete.
	d = b.create(t, []store.NewStep{{Name: "a", Handler: "h"}, {Name: "b", Handler: "h", DependsOn: []string{"a"}}})
	c = b.claimOne(t, "a")
	b.finish(t, store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeFail, Error: store.JSON(`{"error":"x"}`)})
	want = fmt.Sprintf("%d error→pending", d.Task.ID)
	if rs := resolve(d.Step("a").ID); moves(rs) != want {
		t.Fatalf("resolving the failed step of a failed task: moves %q, want %q", moves(rs), want)
	}
}

func testPagination(t *testing.T, b *bundle) {
	for i := range 25 {
		p := b.params(chain("x"))
		if i%5 == 0 {
			p.Namespace = "other"
		}
		if _, err := b.s.CreateTask(b.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int64]bool{}
	var cursor int64
	pages := 0
	for {
		page, err := b.s.ListTasks(b.ctx, &store.ListTasksParams{Limit: 10, Before: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for i, task := range page.Tasks {
			if seen[task.ID] {
				t.Fatalf("task %d on two pages", task.ID)
			}
			seen[task.ID] = true
			if i > 0 && task.ID >= page.Tasks[i-1].ID {
				t.Fatalf("page not newest first")
			}
		}
		if page.NextCursor == 0 {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 25 || pages != 3 {
		t.Fatalf("saw %d tasks on %d pages, want 25 on 3", len(seen), pages)
	}
	other, err := b.s.ListTasks(b.ctx, &store.ListTasksParams{Namespace: "other", States: []store.TaskState{store.TaskPending}})
	if err != nil || len(other.Tasks) != 5 || other.NextCursor != 0 {
		t.Fatalf("filtered list = %d tasks, cursor %d, %v", len(other.Tasks), other.NextCursor, err)
	}
	none, _ := b.s.ListTasks(b.ctx, &store.ListTasksParams{States: []store.TaskState{store.TaskComplete}})
	if len(none.Tasks) != 0 {
		t.Fatalf("no task is complete, listed %d", len(none.Tasks))
	}
}

func testHostileNames(t *testing.T, b *bundle) {
	hostile := []string{`'; DROP TABLE tasker_tasks; --`, `Robert"); DELETE FROM tasker_steps;--`, "名前 🚀 ünïcödé", `\x00-free but back\slash and ?placeholder? $1`}
	for _, name := range hostile {
		p := b.params([]store.NewStep{{Name: name, Handler: name}})
		p.Namespace, p.Name, p.IdentityKey = name, name, name
		res, err := b.s.CreateTask(b.ctx, p)
		if err != nil {
			t.Fatalf("create %q: %v", name, err)
		}
		d := b.get(t, res.Task.ID)
		if d.Task.Namespace != name || d.Task.Name != name || d.Task.IdentityKey != name || d.Steps[0].Name != name || d.Steps[0].Handler != name {
			t.Fatalf("stored %q as %q/%q/%q", name, d.Task.Namespace, d.Task.Name, d.Steps[0].Name)
		}
		page, err := b.s.ListTasks(b.ctx, &store.ListTasksParams{Namespace: name})
		if err != nil || len(page.Tasks) != 1 {
			t.Fatalf("filter by %q: %d tasks, %v", name, len(page.Tasks), err)
		}
	}
	if tasks, _ := b.totals(t); tasks != len(hostile) {
		t.Fatalf("%d tasks survive, want %d", tasks, len(hostile))
	}
}

func jsonEqual(t *testing.T, got, want store.JSON) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored JSON %q does not parse: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON round trip: got %s, want %s", got, want)
	}
}

func testJSONRoundTrip(t *testing.T, b *bundle) {
	// (The path is a backslash and the text u0000, not a NUL: it was
	// refused as one.)
	ctxDoc := store.JSON(`{"order":{"id":42,"items":[{"sku":"A-1","qty":2.5}],"note":"naïve — \"quoted\" 🚀"},"flags":[true,false,null],"big":9007199254740991,"path":"C:\\u0000"}`)
	p := b.params(chain("a"))
	p.Context = ctxDoc
	res, err := b.s.CreateTask(b.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	c := b.claimOne(t, "a")
	jsonEqual(t, c.Task.Context, ctxDoc)
	out := store.JSON(`{"charged":{"amount":"12.34","currency":"EUR"},"list":[1,2,3],"empty":{}}`)
	b.finish(t, complete(c, string(out)))
	d := b.get(t, res.Task.ID)
	jsonEqual(t, d.Steps[0].Results, out)
	jsonEqual(t, d.Task.Context, ctxDoc)
}

func testPayloadLimits(t *testing.T, b *bundle) {
	big := store.JSON(`{"blob":"` + strings.Repeat("x", 1<<20) + `"}`)
	p := b.params(chain("a"))
	p.Context = big
	res, err := b.s.CreateTask(b.ctx, p)
	if err != nil {
		t.Fatalf("1 MiB context refused: %v", err)
	}
	jsonEqual(t, b.get(t, res.Task.ID).Task.Context, big)
	p = b.params(chain("a"))
	p.Context = store.JSON(`{"blob":"` + strings.Repeat("x", store.MaxJSONBytes) + `"}`)
	_, err = b.s.CreateTask(b.ctx, p)
	wantErr(t, err, store.ErrInvalid, "context", "exceeds")
	c := b.claimOne(t, "a")
	res2, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{{Lease: c.Step.Lease(), Kind: store.OutcomeComplete, Results: p.Context}}})
	if !errors.Is(err, store.ErrInvalid) || res2 != nil {
		t.Fatalf("oversized results: %v", err)
	}
	if s := stepState(t, b, c.Step.ID); s != store.StepInProgress {
		t.Fatalf("refused completion moved the step to %s", s)
	}
}

func testEvents(t *testing.T, b *bundle) {
	d := b.create(t, chain("a"))
	send := func(name, key, payload string) (*store.Event, bool) {
		ev, created, err := b.s.SendEvent(b.ctx, &store.SendEventParams{TaskID: d.Task.ID, Name: name, Key: key, Payload: store.JSON(payload)})
		if err != nil {
			t.Fatalf("SendEvent: %v", err)
		}
		return ev, created
	}
	first, created := send("approval", "k1", `{"ok":true}`)
	if !created {
		t.Fatal("first event not created")
	}
	dup, created := send("approval", "k1", `{"ok":false}`)
	if created || dup.ID != first.ID {
		t.Fatalf("duplicate key created a second event")
	}
	send("approval", "k2", `{"ok":"second"}`)
	send("approval", "", `{"n":1}`)
	send("approval", "", `{"n":2}`) // keyless events are all distinct
	consume := func() (*store.Event, error) {
		return b.s.ConsumeEvent(b.ctx, &store.ConsumeEventParams{TaskID: d.Task.ID, Name: "approval"})
	}
	var got []string
	for {
		ev, err := consume()
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(ev.Payload))
	}
	if len(got) != 4 || got[0] != `{"ok":true}` && !strings.Contains(got[0], "true") {
		t.Fatalf("consumed %v, want 4 events oldest first", got)
	}
	_, _, err := b.s.SendEvent(b.ctx, &store.SendEventParams{TaskID: 1 << 40, Name: "x"})
	wantErr(t, err, store.ErrNotFound)
	_, _, err = b.s.SendEvent(b.ctx, &store.SendEventParams{TaskID: d.Task.ID, Name: ""})
	wantErr(t, err, store.ErrInvalid, "name")
	// An event no one can send is not waited for as if none had come yet.
	_, err = b.s.ConsumeEvent(b.ctx, &store.ConsumeEventParams{TaskID: d.Task.ID, Name: ""})
	wantErr(t, err, store.ErrInvalid, "name", "required")
	_, err = b.s.ConsumeEvent(b.ctx, &store.ConsumeEventParams{TaskID: d.Task.ID, Name: strings.Repeat("n", store.MaxNameLen+1)})
	wantErr(t, err, store.ErrInvalid, "name", "256 bytes")
}

func testCountsAndWakeup(t *testing.T, b *bundle) {
	if _, ok, err := b.s.NextWakeup(b.ctx); ok || err != nil {
		t.Fatalf("empty store has a wakeup (%v)", err)
	}
	b.create(t, chain("a", "b"))
	b.create(t, chain("c"))
	c := b.claim(t, 1)[0]
	b.finish(t, store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeRetry, Error: store.JSON(`{}`), RetryAfter: time.Hour})
	counts, err := b.s.CountByState(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Tasks[store.TaskInProgress] != 1 || counts.Tasks[store.TaskPending] != 1 || counts.Steps[store.StepPending] != 3 {
		t.Fatalf("counts = %+v", counts)
	}
	next, ok, err := b.s.NextWakeup(b.ctx)
	if err != nil || !ok || next.After(b.now.Add(time.Second)) {
		t.Fatalf("next wakeup = %v %v %v; want the other ready step, now", next, ok, err)
	}
}

func testTransactionalCreate(t *testing.T, b *bundle) {
	db := b.s.DB()
	tx, err := db.BeginTx(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.s.WithTx(tx).CreateTask(b.ctx, b.params(chain("a")))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.GetTask(b.ctx, res.Task.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("task of a rolled-back transaction: %v", err)
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed %v from a rolled-back transaction", names(got))
	}
	tx, err = db.BeginTx(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err = b.s.WithTx(tx).CreateTask(b.ctx, b.params(chain("a")))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	b.get(t, res.Task.ID)
}

func testHistoryMatches(t *testing.T, b *bundle) {
	d := b.create(t, chain("a", "b"))
	c := b.claimOne(t, "a")
	b.finish(t, store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeRetry, Error: store.JSON(`{"error":"once"}`)})
	b.finish(t, complete(b.claimOne(t, "a"), `{}`))
	b.finish(t, complete(b.claimOne(t, "b"), `{}`))
	h, err := b.s.History(b.ctx, d.Task.ID)
	if err != nil {
		t.Fatal(err)
	}
	var taskPath []string
	for _, tr := range h.Task {
		taskPath = append(taskPath, tr.ToState)
	}
	if strings.Join(taskPath, ",") != "pending,in_progress,complete" {
		t.Fatalf("task path = %v", taskPath)
	}
	stepPath := map[int64][]string{}
	current := map[int64]int{}
	for _, tr := range h.Steps {
		stepPath[tr.StepID] = append(stepPath[tr.StepID], *tr.FromState+"→"+tr.ToState)
		if tr.MostRecent {
			current[tr.StepID]++
		}
	}
	a := d.Step("a").ID
	if got := strings.Join(stepPath[a], " "); got != "pending→in_progress in_progress→pending pending→in_progress in_progress→complete" {
		t.Fatalf("step a path = %s", got)
	}
	for _, s := range b.get(t, d.Task.ID).Steps {
		if current[s.ID] != 1 {
			t.Fatalf("step %s has %d most-recent transitions", s.Name, current[s.ID])
		}
		last := h.Steps[0]
		for _, tr := range h.Steps {
			if tr.StepID == s.ID && tr.MostRecent {
				last = tr
			}
		}
		if last.ToState != string(s.State) {
			t.Fatalf("step %s is %s but its most recent transition says %s", s.Name, s.State, last.ToState)
		}
	}
}

func testEventsConsumedOnce(t *testing.T, b *bundle) {
	d := b.create(t, chain("a"))
	const events = 40
	for i := range events {
		if _, _, err := b.s.SendEvent(b.ctx, &store.SendEventParams{TaskID: d.Task.ID, Name: "tick", Key: fmt.Sprint(i), Payload: store.JSON(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				ev, err := b.s.ConsumeEvent(b.ctx, &store.ConsumeEventParams{TaskID: d.Task.ID, Name: "tick"})
				if errors.Is(err, store.ErrNotFound) {
					return
				}
				if err != nil {
					t.Errorf("ConsumeEvent: %v", err)
					return
				}
				mu.Lock()
				seen[ev.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != events {
		t.Fatalf("consumed %d distinct events, want %d", len(seen), events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %d consumed %d times", id, n)
		}
	}
}

// testOperatorMetaOnConsequences: the moves an operator's retry or resolve
// brings about carry the action's metadata (its actor) with their own
// reason: the steps a retry gives fresh attempts, the task a resolve moves
// back to pending and on to complete.
func testOperatorMetaOnConsequences(t *testing.T, b *bundle) {
	d := b.create(t, []store.NewStep{{Name: "a", Handler: "h", RetryLimit: 1}})
	fail := func() {
		c := b.claimOne(t, "a")
		b.finish(t, store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeFail, Error: store.JSON(`{"error":"x"}`)})
	}
	fail()
	h0 := hist(t, b, d.Task.ID)
	if _, err := b.s.RetryTask(b.ctx, &store.RetryTaskParams{TaskID: d.Task.ID, Metadata: store.JSON(`{"reason":"operator retry","actor":"alice"}`), Now: b.now}); err != nil {
		t.Fatal(err)
	}
	h1 := hist(t, b, d.Task.ID)
	wantMeta := func(what string, got store.JSON, reason, actor string) {
		t.Helper()
		var m struct{ Reason, Actor string }
		if err := json.Unmarshal(got, &m); err != nil || m.Reason != reason || m.Actor != actor {
			t.Errorf("%s: metadata %s, want reason %q and actor %q", what, got, reason, actor)
		}
	}
	if len(h1.Steps) != len(h0.Steps)+1 {
		t.Fatalf("the retry wrote %d step transitions, want 1", len(h1.Steps)-len(h0.Steps))
	}
	wantMeta("the retried step's move", h1.Steps[len(h1.Steps)-1].Metadata, "task retried", "alice")
	fail()
	h2 := hist(t, b, d.Task.ID)
	if _, err := b.s.ResolveStep(b.ctx, &store.ResolveStepParams{StepID: d.Step("a").ID, Metadata: store.JSON(`{"reason":"operator resolved","actor":"bob"}`), Now: b.now}); err != nil {
		t.Fatal(err)
	}
	h3 := hist(t, b, d.Task.ID)
	moves := h3.Task[len(h2.Task):]
	if len(moves) != 3 {
		t.Fatalf("the resolve wrote %d task transitions, want 3 (error → pending → in_progress → complete)", len(moves))
	}
	for _, tr := range moves {
		wantMeta("the task's move to "+tr.ToState, tr.Metadata, "step resolved manually", "bob")
	}
}

func hist(t *testing.T, b *bundle, id int64) *store.History {
	t.Helper()
	h, err := b.s.History(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// testMoveEvents: MoveEvents gives a task's unconsumed events to another,
// but for one the other holds already (the same name and key), counting
// what it moved; consumed events stay; a refused call moves nothing.
func testMoveEvents(t *testing.T, b *bundle) {
	from, to := b.create(t, chain("a")).Task.ID, b.create(t, chain("a")).Task.ID
	send := func(task int64, name, key, payload string) {
		if _, _, err := b.s.SendEvent(b.ctx, &store.SendEventParams{TaskID: task, Name: name, Key: key, Payload: store.JSON(payload), Now: b.now}); err != nil {
			t.Fatalf("SendEvent: %v", err)
		}
	}
	send(from, "tick", "1", `1`)
	send(from, "tick", "2", `2`)
	send(from, "tick", "3", `3`)
	send(from, "other", "", `"x"`)
	send(to, "tick", "3", `"to's own 3"`) // the same event, sent to both
	if _, err := b.s.ConsumeEvent(b.ctx, &store.ConsumeEventParams{TaskID: from, Name: "tick", Now: b.now}); err != nil {
		t.Fatalf("ConsumeEvent: %v", err) // tick 1: read by from, stays
	}
	for _, p := range []*store.MoveEventsParams{{From: from, To: from}, {From: 0, To: to}, nil} {
		_, err := b.s.MoveEvents(b.ctx, p)
		wantErr(t, err, store.ErrInvalid)
	}
	_, err := b.s.MoveEvents(b.ctx, &store.MoveEventsParams{From: to + 1000, To: to})
	wantErr(t, err, store.ErrNotFound, fmt.Sprintf("task %d", to+1000))
	// No task To, with events to move or none: ErrNotFound naming it, and
	// nothing moved (it was a foreign key's error, and only with events).
	empty := b.create(t, chain("a")).Task.ID
	for _, f := range []int64{from, empty} {
		_, err = b.s.MoveEvents(b.ctx, &store.MoveEventsParams{From: f, To: to + 2000})
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("task %d", to+2000))
	}
	n, err := b.s.MoveEvents(b.ctx, &store.MoveEventsParams{From: from, To: to})
	if err != nil || n != 2 {
		t.Fatalf("MoveEvents = %d, %v; want tick 2 and other moved", n, err)
	}
	drain := func(task int64, name string) []string {
		var got []string
		for {
			ev, err := b.s.ConsumeEvent(b.ctx, &store.ConsumeEventParams{TaskID: task, Name: name, Now: b.now})
			if errors.Is(err, store.ErrNotFound) {
				return got
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(ev.Payload))
		}
	}
	// Oldest sent first, wherever it was sent: tick 2 before to's own 3.
	if got := drain(to, "tick"); len(got) != 2 || got[0] != `2` || got[1] != `"to's own 3"` {
		t.Fatalf("to's ticks: %v, want 2, then its own 3", got)
	}
	if got := drain(to, "other"); len(got) != 1 {
		t.Fatalf("to's other events: %v, want the one moved", got)
	}
	if got := drain(from, "tick"); len(got) != 1 || got[0] != `3` {
		t.Fatalf("from's ticks left: %v, want 3 (to had it already)", got)
	}
}
