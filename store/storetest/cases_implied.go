package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testImpliedTransitions: a start writes no transition rows — the task's
// creation and the claims of the steps it leases are implied by the rows
// it inserts — and History gives them back (ID 0), in place, with every
// later move stored as before.
func testImpliedTransitions(t *testing.T, b *bundle) {
	p := b.params([]store.NewStep{
		{Name: "a", Handler: "h.a", Retryable: true},
		{Name: "b", Handler: "h.b", Retryable: true}, // not the lease's
		{Name: "c", Handler: "h.a", Retryable: true, DependsOn: []string{"a", "b"}},
	})
	p.Lease = &store.StartLease{Owner: "eager", TTL: time.Minute, Limit: 5, Handlers: []string{"h.a"}}
	res, err := b.s.CreateTask(b.ctx, p)
	if err != nil || len(res.Claimed) != 1 || res.Claimed[0].Step.Name != "a" {
		t.Fatalf("CreateTask: %+v, %v; want step a claimed", res, err)
	}
	id := res.Task.ID
	stored := func() (tasks, steps int) {
		t.Helper()
		if err := b.s.DB().NewRaw("SELECT (SELECT count(*) FROM tasker_task_transitions WHERE task_id = ?), (SELECT count(*) FROM tasker_step_transitions WHERE task_id = ?)",
			id, id).Scan(b.ctx, &tasks, &steps); err != nil {
			t.Fatal(err)
		}
		return tasks, steps
	}
	if tasks, steps := stored(); tasks != 0 || steps != 0 {
		t.Fatalf("the start stored %d task and %d step transitions, want none", tasks, steps)
	}
	// b is claimed later (stored), then a and b complete (stored), c runs.
	b.now = b.now.Add(time.Second)
	bStep := b.claimOne(t, "b")
	b.now = b.now.Add(time.Second)
	b.finish(t, complete(res.Claimed[0], `1`), complete(bStep, `2`))
	cStep := b.claimOne(t, "c")
	b.now = b.now.Add(time.Second)
	b.finish(t, complete(cStep, `3`))
	if tasks, steps := stored(); tasks != 1 || steps != 5 {
		t.Fatalf("stored %d task and %d step transitions, want 1 (→ complete) and 5 (all but a's claim)", tasks, steps)
	}

	h, err := b.s.History(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	names := map[int64]string{res.Claimed[0].Step.ID: "a", bStep.Step.ID: "b", cStep.Step.ID: "c"}
	var got []string
	for _, tr := range h.Task {
		from := "∅"
		if tr.FromState != nil {
			from = *tr.FromState
		}
		got = append(got, fmt.Sprintf("task %s→%s #%d id0=%v recent=%v", from, tr.ToState, tr.SortKey, tr.ID == 0, tr.MostRecent))
	}
	for _, tr := range h.Steps {
		got = append(got, fmt.Sprintf("%s %s→%s #%d id0=%v recent=%v", names[tr.StepID], *tr.FromState, tr.ToState, tr.SortKey, tr.ID == 0, tr.MostRecent))
	}
	want := []string{
		"task ∅→in_progress #1 id0=true recent=false",
		"task in_progress→complete #2 id0=false recent=true",
		"a pending→in_progress #1 id0=true recent=false",
		"b pending→in_progress #1 id0=false recent=false",
		"a in_progress→complete #2 id0=false recent=true",
		"b in_progress→complete #2 id0=false recent=true",
		"c pending→in_progress #1 id0=false recent=false",
		"c in_progress→complete #2 id0=false recent=true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("History:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if at := h.Steps[0].CreatedAt; !at.Equal(res.Task.CreatedAt) || !h.Task[0].CreatedAt.Equal(res.Task.CreatedAt) {
		t.Fatalf("implied rows at %v and %v, want the task's creation %v", h.Task[0].CreatedAt, at, res.Task.CreatedAt)
	}

	// A start that claims nothing: the task's creation (→ pending) is
	// implied; a claim stores its step's move and implies the task's
	// start, at the claim's time.
	d := b.create(t, chain("x"))
	h, err = b.s.History(b.ctx, d.Task.ID)
	if err != nil || len(h.Task) != 1 || h.Task[0].ToState != string(store.TaskPending) || h.Task[0].FromState != nil || h.Task[0].ID != 0 || len(h.Steps) != 0 {
		t.Fatalf("History of a pending task: %+v, %v; want its creation (→ pending) only", h, err)
	}
	b.now = b.now.Add(time.Second)
	x := b.claimOne(t, "x")
	taskPath := func() string {
		t.Helper()
		h, err := b.s.History(b.ctx, d.Task.ID)
		if err != nil {
			t.Fatal(err)
		}
		var claimed time.Time // the step's first claim, stored
		for _, tr := range h.Steps {
			if tr.StepID == x.Step.ID && tr.SortKey == 1 {
				claimed = tr.CreatedAt
			}
		}
		var p []string
		for _, tr := range h.Task {
			from := "∅"
			if tr.FromState != nil {
				from = *tr.FromState
			}
			p = append(p, fmt.Sprintf("%s→%s#%d stored=%v", from, tr.ToState, tr.SortKey, tr.ID != 0))
			if tr.SortKey == 2 && tr.ID == 0 && !tr.CreatedAt.Equal(claimed) {
				t.Errorf("the implied start is at %v, want the claim's time %v", tr.CreatedAt, claimed)
			}
		}
		return strings.Join(p, " ")
	}
	if got := taskPath(); got != "∅→pending#1 stored=false pending→in_progress#2 stored=false" {
		t.Fatalf("task path after the claim: %s", got)
	}
	// A start after a retry is written: only the first is implied.
	b.finish(t, store.StepOutcome{Lease: x.Step.Lease(), Kind: store.OutcomeFail, Error: store.JSON(`{"error":"no"}`)})
	if _, err := b.s.RetryTask(b.ctx, &store.RetryTaskParams{TaskID: d.Task.ID, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	b.claimOne(t, "x")
	if got := taskPath(); got != "∅→pending#1 stored=false pending→in_progress#2 stored=false in_progress→error#3 stored=true error→pending#4 stored=true pending→in_progress#5 stored=true" {
		t.Fatalf("task path after a retry: %s", got)
	}
}

// testImpliedBeforeSkewedRows: a start's implied claims come first in
// History even when a later row carries an earlier time (it was written by
// a process whose clock is behind the starter's): History is write order,
// not time order.
func testImpliedBeforeSkewedRows(t *testing.T, b *bundle) {
	p := b.params([]store.NewStep{
		{Name: "a", Handler: "h.a", Retryable: true},
		{Name: "b", Handler: "h.b", Retryable: true},
	})
	p.Now = b.now.Add(5 * time.Second) // the starter's clock is ahead
	p.Lease = &store.StartLease{Owner: "eager", TTL: time.Minute, Limit: 1, Handlers: []string{"h.a"}}
	res, err := b.s.CreateTask(b.ctx, p)
	if err != nil || len(res.Claimed) != 1 {
		t.Fatalf("CreateTask: %+v, %v; want step a claimed", res, err)
	}
	got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "behind", Limit: 1, LeaseTTL: time.Minute, Handlers: []string{"h.b"}, Now: b.now.Add(6 * time.Second)})
	if err != nil || len(got) != 1 {
		t.Fatalf("claiming b: %v, %v", names(got), err)
	}
	// b's claim row is stamped by the claim's Now; make it earlier than
	// the start's, as a process with a slower clock would.
	if _, err := b.s.DB().NewRaw("UPDATE tasker_step_transitions SET created_at = ? WHERE step_id = ?", b.now.Add(-time.Second).UTC(), got[0].Step.ID).Exec(b.ctx); err != nil {
		t.Fatal(err)
	}
	h, err := b.s.History(b.ctx, res.Task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Steps) != 2 || h.Steps[0].StepID != res.Claimed[0].Step.ID || h.Steps[0].ID != 0 || h.Steps[1].StepID != got[0].Step.ID {
		t.Fatalf("History.Steps = %+v; want a's implied claim, then b's", h.Steps)
	}
}

// testImpliedStartAtItsClaim: a task's implied start is at the claim that
// made it (the first written), not at the earliest claim by time, which a
// later claim from a process with a slower clock can carry.
func testImpliedStartAtItsClaim(t *testing.T, b *bundle) {
	d := b.create(t, []store.NewStep{{Name: "a", Handler: "h.a", Retryable: true}, {Name: "b", Handler: "h.b", Retryable: true}})
	claim := func(handler string, at time.Time) {
		t.Helper()
		got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 1, LeaseTTL: time.Minute, Handlers: []string{handler}, Now: at})
		if err != nil || len(got) != 1 {
			t.Fatalf("claiming %s: %v, %v", handler, names(got), err)
		}
	}
	claim("h.a", b.now.Add(10*time.Second)) // starts the task
	claim("h.b", b.now.Add(3*time.Second))  // later, by a slower clock
	h, err := b.s.History(b.ctx, d.Task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Task) != 2 || h.Task[1].SortKey != 2 || h.Task[1].ID != 0 || !h.Task[1].CreatedAt.Equal(b.now.Add(10*time.Second)) {
		t.Fatalf("History.Task = %+v; want the implied start at the first claim's time, %v", h.Task, b.now.Add(10*time.Second))
	}
}

// testImpliedDurableTransitions: a durable step recorded complete on its
// first attempt — alone, in a group, or held until its driver's
// completion — stores
// no transition rows; History gives back its claim and its completion (ID
// 0, at its creation) where the record was written among the stored rows.
// A first attempt that fails stores both, its error in the second.
func testImpliedDurableTransitions(t *testing.T, b *bundle) {
	d, driver := codeTask(t, b)
	id := d.Task.ID
	item := func(seq int, name string, kind store.OutcomeKind) *store.RecordStepParams {
		p := &store.RecordStepParams{Driver: driver.Step.Lease(), TaskID: id, Sequence: seq, Name: name, Handler: "workflow.step",
			Kind: kind, Attempt: 1, Now: b.now}
		if kind == store.OutcomeComplete {
			p.Results = store.JSON(fmt.Sprintf(`{"n":%d}`, seq))
		} else {
			p.Error = store.JSON(`{"message":"declined"}`)
		}
		return p
	}
	record := func(ps ...*store.RecordStepParams) []store.RecordedStep {
		t.Helper()
		res, err := b.s.RecordAttempts(b.ctx, ps)
		if err != nil {
			t.Fatalf("RecordAttempts: %v", err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("RecordAttempts(%s): %v", ps[i].Name, r.Err)
			}
		}
		return res
	}
	b.now = b.now.Add(time.Second)
	charge := record(item(1, "charge#1", store.OutcomeComplete))[0].Step
	b.now = b.now.Add(time.Second)
	// Two records of one group, at one time: their rows in write order.
	group := record(item(2, "refund#2", store.OutcomeFail), item(3, "pack#3", store.OutcomeComplete))
	refund := group[0].Step
	b.now = b.now.Add(time.Second)
	done := complete(driver, `{"ok":true}`)
	held := item(4, "ship#4", store.OutcomeComplete)
	held.Now = time.Time{} // as the engine holds them: recorded at the commit's time
	done.Records = []*store.RecordStepParams{held}
	b.finish(t, done)

	var stored []string
	if err := b.s.DB().NewRaw(`SELECT s.name FROM tasker_step_transitions tr JOIN tasker_steps s ON s.id = tr.step_id
		WHERE tr.task_id = ? ORDER BY tr.id`, id).Scan(b.ctx, &stored); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stored, " "); got != "workflow refund#2 refund#2 workflow" {
		t.Fatalf("stored step transitions of %s, want the driver's claim, the failed attempt's two rows and the driver's completion", got)
	}
	h, err := b.s.History(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	steps := b.get(t, id).Steps
	name := map[int64]string{}
	created := map[int64]time.Time{}
	for _, s := range steps {
		name[s.ID], created[s.ID] = s.Name, s.CreatedAt
	}
	var got []string
	for _, tr := range h.Steps {
		meta := ""
		if len(tr.Metadata) > 0 {
			var c bytes.Buffer // jsonb spaces its documents
			if err := json.Compact(&c, tr.Metadata); err != nil {
				t.Fatal(err)
			}
			meta = " " + c.String()
		}
		got = append(got, fmt.Sprintf("%s %s→%s #%d id0=%v recent=%v%s", name[tr.StepID], *tr.FromState, tr.ToState, tr.SortKey, tr.ID == 0, tr.MostRecent, meta))
		if tr.ID == 0 && !tr.CreatedAt.Equal(created[tr.StepID]) {
			t.Errorf("implied row of %s at %v, want its creation %v", name[tr.StepID], tr.CreatedAt, created[tr.StepID])
		}
	}
	want := []string{
		"workflow pending→in_progress #1 id0=false recent=false",
		"charge#1 pending→in_progress #1 id0=true recent=false",
		"charge#1 in_progress→complete #2 id0=true recent=true",
		"refund#2 pending→in_progress #1 id0=false recent=false",
		`refund#2 in_progress→error #2 id0=false recent=true {"message":"declined"}`,
		"pack#3 pending→in_progress #1 id0=true recent=false",
		"pack#3 in_progress→complete #2 id0=true recent=true",
		"ship#4 pending→in_progress #1 id0=true recent=false",
		"ship#4 in_progress→complete #2 id0=true recent=true",
		"workflow in_progress→complete #2 id0=false recent=true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("History:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if charge.State != store.StepComplete || refund.State != store.StepError {
		t.Fatalf("records: charge %s, refund %s", charge.State, refund.State)
	}
	checkHistoryMatches(t, b, id)
}
