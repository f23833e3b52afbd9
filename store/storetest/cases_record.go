package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// recordScript is two rounds of durable attempts of one code-first task:
// first attempts that fail (retry, for good, out of attempts) or complete,
// then the retries of the two left pending, one completing, one running
// out of attempts.
func recordScript(driver store.Lease, task int64, now time.Time) [][]*store.RecordStepParams {
	item := func(seq int, name string, kind store.OutcomeKind, attempt, limit int, after time.Duration) *store.RecordStepParams {
		p := &store.RecordStepParams{Driver: driver, TaskID: task, Sequence: seq, Name: fmt.Sprintf("%s#%d", name, seq),
			Handler: "workflow.step", Policy: store.JSON(`{"backoff":"1ms"}`), Retryable: true, RetryLimit: limit, Kind: kind,
			RetryAfter: after, Attempt: attempt, Now: now}
		if kind == store.OutcomeComplete {
			p.Results = store.JSON(fmt.Sprintf(`{"seq":%d,"attempt":%d}`, seq, attempt))
		} else {
			p.Error = store.JSON(fmt.Sprintf(`{"message":"attempt %d of %s failed"}`, attempt, name))
		}
		return p
	}
	return [][]*store.RecordStepParams{{
		item(1, "charge", store.OutcomeRetry, 1, 3, time.Hour),
		item(2, "ship", store.OutcomeFail, 1, 3, time.Hour),
		item(3, "mail", store.OutcomeComplete, 1, 3, 0),
		item(4, "flaky", store.OutcomeRetry, 1, 2, 0),
		item(5, "once", store.OutcomeRetry, 1, 1, time.Hour),
	}, {
		item(1, "charge", store.OutcomeComplete, 2, 3, 0),
		item(4, "flaky", store.OutcomeRetry, 2, 2, time.Hour),
	}}
}

// RecordAttempts moves every row as RecordStep moves it: the same script
// recorded in groups on one task and item by item on another leaves the
// same rows (state, attempts, results, error, wake time, transitions) and
// the same unfinished count; each returned row is the stored one.
func testRecordAttemptsAsRecordStep(t *testing.T, b *bundle) {
	grouped, gc := codeTask(t, b)
	single, sc := codeTask(t, b)
	gScript := recordScript(gc.Step.Lease(), grouped.Task.ID, b.now)
	sScript := recordScript(sc.Step.Lease(), single.Task.ID, b.now)
	for round := range gScript {
		res, err := b.s.RecordAttempts(b.ctx, gScript[round])
		if err != nil {
			t.Fatalf("round %d: RecordAttempts: %v", round+1, err)
		}
		for i, p := range sScript[round] {
			if _, err := b.s.RecordStep(b.ctx, p); err != nil {
				t.Fatalf("round %d: RecordStep of %s: %v", round+1, p.Name, err)
			}
			r := res[i]
			if r.Err != nil || r.Step == nil {
				t.Fatalf("round %d: item %s: %+v", round+1, gScript[round][i].Name, r)
			}
			stored := stepBySeq(t, b, grouped.Task.ID)[gScript[round][i].Sequence]
			if r.Step.ID != stored.ID || r.Step.State != stored.State || r.Step.Attempts != stored.Attempts ||
				!r.Step.NextAttemptAt.Equal(stored.NextAttemptAt) {
				t.Fatalf("round %d: %s returned (id %d, %s, %d attempts, next %s), stored (id %d, %s, %d attempts, next %s)", round+1, stored.Name,
					r.Step.ID, r.Step.State, r.Step.Attempts, r.Step.NextAttemptAt, stored.ID, stored.State, stored.Attempts, stored.NextAttemptAt)
			}
		}
	}
	want := map[int]struct {
		state    store.StepState
		attempts int
	}{1: {store.StepComplete, 2}, 2: {store.StepError, 1}, 3: {store.StepComplete, 1}, 4: {store.StepError, 2}, 5: {store.StepError, 1}}
	gRows, sRows := stepBySeq(t, b, grouped.Task.ID), stepBySeq(t, b, single.Task.ID)
	gTrans, sTrans := transitionsBySeq(t, b, grouped.Task.ID, gRows), transitionsBySeq(t, b, single.Task.ID, sRows)
	if got, want := gTrans[1], `pending>in_progress@1 in_progress>pending@2{"message":"attempt 1 of charge failed"} pending>in_progress@3 in_progress>complete@4 `; got != want {
		t.Errorf("charge#1's transitions:\n got  %s\n want %s", got, want)
	}
	for seq, w := range want {
		g, s := gRows[seq], sRows[seq]
		if g == nil || s == nil {
			t.Fatalf("sequence %d: grouped row %v, one-by-one row %v", seq, g, s)
		}
		if g.State != w.state || g.Attempts != w.attempts {
			t.Errorf("sequence %d (%s): %s after %d attempts, want %s after %d", seq, g.Name, g.State, g.Attempts, w.state, w.attempts)
		}
		if g.Name != s.Name || g.State != s.State || g.Attempts != s.Attempts || g.RetryLimit != s.RetryLimit || g.TransitionSeq != s.TransitionSeq ||
			!sameDoc(g.Results, s.Results) || !sameDoc(g.LastError, s.LastError) || !g.NextAttemptAt.Equal(s.NextAttemptAt) ||
			(g.CompletedAt == nil) != (s.CompletedAt == nil) || (g.StartedAt == nil) != (s.StartedAt == nil) {
			t.Errorf("sequence %d differs:\n grouped    %s %s attempts=%d limit=%d seq=%d results=%s error=%s next=%s completed=%v\n one by one %s %s attempts=%d limit=%d seq=%d results=%s error=%s next=%s completed=%v",
				seq, g.Name, g.State, g.Attempts, g.RetryLimit, g.TransitionSeq, g.Results, g.LastError, g.NextAttemptAt, g.CompletedAt != nil,
				s.Name, s.State, s.Attempts, s.RetryLimit, s.TransitionSeq, s.Results, s.LastError, s.NextAttemptAt, s.CompletedAt != nil)
		}
		if gt, st := gTrans[seq], sTrans[seq]; gt != st {
			t.Errorf("sequence %d: transitions\n grouped    %s\n one by one %s", seq, gt, st)
		}
	}
	if g, s := b.get(t, grouped.Task.ID).Task.Unfinished, b.get(t, single.Task.ID).Task.Unfinished; g != s || g != 1 {
		t.Errorf("unfinished: grouped %d, one by one %d, want 1 (the driver)", g, s)
	}
	checkHistoryMatches(t, b, grouped.Task.ID)
}

// Each item of RecordAttempts is recorded at its own Now, as RecordStep
// records it: its wake time (Now plus its backoff) and its transitions'
// times. The whole group was written at the first item's Now. Completions
// alone (one statement on Postgres) and a group with retries alike.
func testRecordAttemptsEachAtItsNow(t *testing.T, b *bundle) {
	d, c := codeTask(t, b)
	later := b.now.Add(10 * time.Minute)
	item := func(seq int, kind store.OutcomeKind, attempt int, at time.Time) *store.RecordStepParams {
		p := &store.RecordStepParams{Driver: c.Step.Lease(), TaskID: d.Task.ID, Sequence: seq, Name: fmt.Sprintf("s#%d", seq),
			Handler: "workflow.step", Retryable: true, RetryLimit: 3, Kind: kind, Attempt: attempt, Now: at}
		if kind == store.OutcomeRetry {
			p.RetryAfter, p.Error = time.Hour, store.JSON(`{"message":"failed"}`)
		}
		return p
	}
	groups := [][]*store.RecordStepParams{
		{item(1, store.OutcomeComplete, 1, b.now), item(2, store.OutcomeComplete, 1, later)},
		{item(3, store.OutcomeRetry, 1, b.now), item(4, store.OutcomeRetry, 1, later), item(5, store.OutcomeComplete, 1, later)},
		{item(3, store.OutcomeRetry, 2, later.Add(time.Hour)), item(4, store.OutcomeComplete, 2, b.now.Add(2*time.Hour))},
	}
	for g, group := range groups {
		res, err := b.s.RecordAttempts(b.ctx, group)
		if err != nil {
			t.Fatalf("group %d: %v", g+1, err)
		}
		h, err := b.s.History(b.ctx, d.Task.ID)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range group {
			want := p.Now.Add(retryDelayOf(p))
			if r := res[i]; r.Err != nil || r.Step == nil {
				t.Fatalf("group %d: %s: %+v", g+1, p.Name, r)
			} else if !r.Step.NextAttemptAt.Equal(want) {
				t.Fatalf("group %d: %s (at %s) returned its next attempt at %s, want %s", g+1, p.Name, p.Now, r.Step.NextAttemptAt, want)
			}
			if got := stepBySeq(t, b, d.Task.ID)[p.Sequence]; !got.NextAttemptAt.Equal(want) {
				t.Errorf("group %d: %s (at %s) is stored with its next attempt at %s, want %s", g+1, p.Name, p.Now, got.NextAttemptAt, want)
			}
			for _, tr := range h.Steps {
				if tr.StepID == res[i].Step.ID && tr.SortKey > 2*(p.Attempt-1) && !tr.CreatedAt.Equal(p.Now) {
					t.Errorf("group %d: %s (at %s) has its transition to %s at %s", g+1, p.Name, p.Now, tr.ToState, tr.CreatedAt)
				}
			}
		}
	}
	checkHistoryMatches(t, b, d.Task.ID)
}

// retryDelayOf is how long after its Now an attempt's row is due: its
// backoff when it waits for another attempt (of 3), none otherwise.
func retryDelayOf(p *store.RecordStepParams) time.Duration {
	if p.Kind == store.OutcomeRetry && p.Attempt < 3 {
		return p.RetryAfter
	}
	return 0
}

// RecordAttempts refuses a group with a suspension, an item without its
// attempt number, or an attempt its row disagrees with, and then writes
// nothing; RecordStep refuses such an attempt too.
func testRecordAttemptsRefusals(t *testing.T, b *bundle) {
	d, c := codeTask(t, b)
	script := recordScript(c.Step.Lease(), d.Task.ID, b.now)
	if _, err := b.s.RecordAttempts(b.ctx, script[0]); err != nil {
		t.Fatal(err)
	}
	_, before := b.totals(t)
	history := func() int {
		h, err := b.s.History(b.ctx, d.Task.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(h.Steps)
	}
	transitions := history()
	again := *script[1][0]
	again.Attempt = 3 // charge#1 has 1 attempt recorded
	fresh := *script[1][0]
	fresh.Sequence, fresh.Name, fresh.Attempt = 6, "new#6", 1
	_, err := b.s.RecordAttempts(b.ctx, []*store.RecordStepParams{&fresh, &again})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("attempt 3 of a row with 1 attempt: %v, want ErrConflict", err)
	}
	exists := *script[0][2]
	exists.Sequence, exists.Name = 7, "other#7"
	dup := *script[0][2] // mail#3 is complete already
	_, err = b.s.RecordAttempts(b.ctx, []*store.RecordStepParams{&exists, &dup})
	if err == nil {
		t.Fatal("a first attempt of a step that has a row was accepted")
	}
	_, err = b.s.RecordStep(b.ctx, &again)
	wantErr(t, err, store.ErrConflict, "charge#1", "1 attempts")
	if _, after := b.totals(t); after != before || history() != transitions {
		t.Fatalf("the refused records wrote %d steps, %d transitions", after-before, history()-transitions)
	}
	if got := stepBySeq(t, b, d.Task.ID)[1]; got.Attempts != 1 || got.State != store.StepPending {
		t.Fatalf("charge#1 is %s after %d attempts, want pending after 1", got.State, got.Attempts)
	}
	// Without Now, the wake time is by the database's clock (on Postgres
	// an expression per row) plus the backoff.
	unclocked := *script[0][0]
	unclocked.Sequence, unclocked.Name, unclocked.Now = 8, "unclocked#8", time.Time{}
	res, err := b.s.RecordAttempts(b.ctx, []*store.RecordStepParams{&unclocked})
	if err != nil || res[0].Err != nil {
		t.Fatalf("an attempt without Now: %v %+v", err, res)
	}
	if got, wall := res[0].Step.NextAttemptAt, time.Now(); got.Before(wall.Add(50*time.Minute)) || got.After(wall.Add(70*time.Minute)) {
		t.Fatalf("an attempt without Now retries at %s, want about an hour after %s", got, wall)
	}
	unclocked.Attempt = 2 // and its retry, failing again
	res, err = b.s.RecordAttempts(b.ctx, []*store.RecordStepParams{&unclocked})
	if err != nil || res[0].Err != nil || res[0].Step.Attempts != 2 || res[0].Step.State != store.StepPending {
		t.Fatalf("a retry without Now: %v %+v", err, res)
	}
	if got, wall := res[0].Step.NextAttemptAt, time.Now(); got.Before(wall.Add(50*time.Minute)) || got.After(wall.Add(70*time.Minute)) {
		t.Fatalf("a retry without Now retries at %s, want about an hour after %s", got, wall)
	}
	noAttempt := *script[1][0]
	noAttempt.Attempt = 0
	_, err = b.s.RecordAttempts(b.ctx, []*store.RecordStepParams{&noAttempt})
	wantErr(t, err, store.ErrInvalid, "attempt")
	suspend := *script[1][0]
	suspend.Kind = store.OutcomeSuspend
	_, err = b.s.RecordAttempts(b.ctx, []*store.RecordStepParams{&suspend})
	wantErr(t, err, store.ErrInvalid, "kind")
}

// stepBySeq is a task's durable rows by sequence.
func stepBySeq(t *testing.T, b *bundle, task int64) map[int]*store.Step {
	t.Helper()
	out := map[int]*store.Step{}
	for _, s := range b.get(t, task).Steps {
		if s.Sequence != nil {
			out[*s.Sequence] = s
		}
	}
	return out
}

// transitionsBySeq is each durable row's transitions as one line:
// "from>to@sort_key{metadata} …" in sort key order.
func transitionsBySeq(t *testing.T, b *bundle, task int64, rows map[int]*store.Step) map[int]string {
	t.Helper()
	h, err := b.s.History(b.ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	seqOf := map[int64]int{}
	for seq, r := range rows {
		seqOf[r.ID] = seq
	}
	byKey := map[int]map[int]string{}
	for _, tr := range h.Steps {
		seq, ok := seqOf[tr.StepID]
		if !ok {
			continue
		}
		from := ""
		if tr.FromState != nil {
			from = *tr.FromState
		}
		if byKey[seq] == nil {
			byKey[seq] = map[int]string{}
		}
		meta := ""
		if len(tr.Metadata) > 0 {
			meta = canonical(tr.Metadata)
		}
		byKey[seq][tr.SortKey] = fmt.Sprintf("%s>%s@%d%s", from, tr.ToState, tr.SortKey, meta)
	}
	out := map[int]string{}
	for seq, keys := range byKey {
		line := ""
		for k := 0; k <= len(keys)+1; k++ {
			if s, ok := keys[k]; ok {
				line += s + " "
			}
		}
		out[seq] = line
	}
	return out
}

// sameDoc reports whether two stored documents (either maybe absent) are
// the same JSON value.
func sameDoc(a, b store.JSON) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return sameJSON(a, string(b))
}

// canonical is a document re-encoded with sorted keys and no spaces.
func canonical(doc store.JSON) string {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return string(doc)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
