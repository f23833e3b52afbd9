package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// A durable attempt timed by its caller (RecordStepParams.Ran) is stored
// as having started that long before its Now, whichever way it is
// written: RecordStep (a first attempt, a retry), RecordAttempts (a group
// of completions, one statement on Postgres; a group with a retry), and
// the records a driver held back (FinishSteps, in a mixed group and in
// one of completions): completed_at − started_at is the attempt's
// duration, as a DAG step's is. A negative Ran is refused.
func testRecordedAttemptStartsWhenItRan(t *testing.T, b *bundle) {
	ran := func(seq int) time.Duration { return time.Duration(seq) * time.Second }
	item := func(c *store.ClaimedStep, id int64, seq int, kind store.OutcomeKind, attempt int) *store.RecordStepParams {
		p := &store.RecordStepParams{Driver: c.Step.Lease(), TaskID: id, Sequence: seq, Name: fmt.Sprintf("s#%d", seq),
			Handler: "workflow.step", Retryable: true, RetryLimit: 3, Kind: kind, Attempt: attempt, Ran: ran(seq + attempt), Now: b.now}
		if kind == store.OutcomeRetry {
			p.RetryAfter, p.Error = time.Millisecond, store.JSON(`{"message":"failed"}`)
		}
		return p
	}
	check := func(what string, id int64, want map[int]int) { // sequence: the attempt last recorded
		t.Helper()
		rows := stepBySeq(t, b, id)
		for seq, attempt := range want {
			s := rows[seq]
			if s == nil || s.StartedAt == nil {
				t.Fatalf("%s: sequence %d has no row or no start: %+v", what, seq, s)
			}
			if got, want := b.now.Sub(*s.StartedAt), ran(seq+attempt); got != want {
				t.Errorf("%s: %s (attempt %d) started %s before its record, want %s", what, s.Name, attempt, got, want)
			}
		}
	}

	d, c := codeTask(t, b)
	if _, err := b.s.RecordStep(b.ctx, item(c, d.Task.ID, 1, store.OutcomeRetry, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.RecordStep(b.ctx, item(c, d.Task.ID, 2, store.OutcomeComplete, 1)); err != nil {
		t.Fatal(err)
	}
	check("RecordStep, first attempts", d.Task.ID, map[int]int{1: 1, 2: 1})
	if _, err := b.s.RecordStep(b.ctx, item(c, d.Task.ID, 1, store.OutcomeComplete, 2)); err != nil {
		t.Fatal(err)
	}
	check("RecordStep, a retry", d.Task.ID, map[int]int{1: 2})

	g, gc := codeTask(t, b)
	attempts := func(items ...*store.RecordStepParams) {
		t.Helper()
		res, err := b.s.RecordAttempts(b.ctx, items)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("RecordAttempts: %s: %v", items[i].Name, r.Err)
			}
		}
	}
	attempts(item(gc, g.Task.ID, 1, store.OutcomeComplete, 1), item(gc, g.Task.ID, 2, store.OutcomeComplete, 1))
	check("RecordAttempts, completions", g.Task.ID, map[int]int{1: 1, 2: 1})
	attempts(item(gc, g.Task.ID, 3, store.OutcomeRetry, 1), item(gc, g.Task.ID, 4, store.OutcomeComplete, 1))
	attempts(item(gc, g.Task.ID, 3, store.OutcomeComplete, 2))
	check("RecordAttempts, with a retry", g.Task.ID, map[int]int{3: 2, 4: 1})

	h1, c1 := codeTask(t, b)
	h2, c2 := codeTask(t, b)
	done := complete(c1, `"ok"`)
	done.Records = []*store.RecordStepParams{item(c1, h1.Task.ID, 1, store.OutcomeComplete, 1)}
	sleep := store.StepOutcome{Lease: c2.Step.Lease(), Kind: store.OutcomeSuspend, RetryAfter: time.Hour,
		Records: []*store.RecordStepParams{item(c2, h2.Task.ID, 2, store.OutcomeComplete, 1)}}
	b.finish(t, done, sleep)
	check("held records, a mixed group", h1.Task.ID, map[int]int{1: 1})
	check("held records, a mixed group", h2.Task.ID, map[int]int{2: 1})
	h3, c3 := codeTask(t, b)
	last := complete(c3, `"ok"`)
	last.Records = []*store.RecordStepParams{item(c3, h3.Task.ID, 3, store.OutcomeComplete, 1)}
	b.finish(t, last)
	check("held records, completions", h3.Task.ID, map[int]int{3: 1})
	checkHistoryMatches(t, b, h3.Task.ID)

	bad := item(c, d.Task.ID, 5, store.OutcomeComplete, 1)
	bad.Ran = -time.Second
	_, err := b.s.RecordStep(b.ctx, bad)
	wantErr(t, err, store.ErrInvalid, "ran")
	_, err = b.s.RecordAttempts(b.ctx, []*store.RecordStepParams{bad})
	wantErr(t, err, store.ErrInvalid, "ran")
	if _, ok := stepBySeq(t, b, d.Task.ID)[5]; ok {
		t.Fatal("a refused record wrote its row")
	}
}
