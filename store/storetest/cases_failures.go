package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testFailuresInOneGroup: one commit records retries (attempts left: back
// to pending, due after their delay; none left: error), a failure, a
// retry whose lease is stale and a completion, each with its own error
// and transition.
func testFailuresInOneGroup(t *testing.T, b *bundle) {
	d := b.create(t, []store.NewStep{
		{Name: "retry", Handler: "h", Retryable: true, RetryLimit: 3},
		{Name: "last", Handler: "h", Retryable: true, RetryLimit: 1},
		{Name: "fail", Handler: "h", Retryable: true},
		{Name: "stale", Handler: "h", Retryable: true},
		{Name: "done", Handler: "h", Retryable: true},
	})
	claimed := map[string]*store.ClaimedStep{}
	for _, c := range b.claim(t, 10) {
		claimed[c.Step.Name] = c
	}
	if len(claimed) != 5 {
		t.Fatalf("claimed %d steps, want 5", len(claimed))
	}
	retry := func(name, msg string, after time.Duration) store.StepOutcome {
		return store.StepOutcome{Lease: claimed[name].Step.Lease(), Kind: store.OutcomeRetry, Error: store.JSON(`{"message":"` + msg + `"}`), RetryAfter: after}
	}
	stale := retry("stale", "stale", time.Second)
	stale.Lease.Token++
	res, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Now: b.now, Outcomes: []store.StepOutcome{
		retry("retry", "again", 5*time.Second),
		retry("last", "out of attempts", time.Second),
		{Lease: claimed["fail"].Step.Lease(), Kind: store.OutcomeFail, Error: store.JSON(`{"message":"broken"}`)},
		stale,
		complete(claimed["done"], `{"ok":true}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.StepState{store.StepPending, store.StepError, store.StepError, "", store.StepComplete}
	for i, r := range res.Steps {
		if i == 3 {
			if !errors.Is(r.Err, store.ErrLeaseLost) {
				t.Errorf("stale retry: %+v, want ErrLeaseLost", r)
			}
			continue
		}
		if r.Err != nil || r.State != want[i] {
			t.Errorf("outcome %d: %+v, want state %s", i, r, want[i])
		}
	}
	got := b.get(t, d.Task.ID)
	for name, w := range map[string]struct {
		state store.StepState
		err   string
	}{"retry": {store.StepPending, "again"}, "last": {store.StepError, "out of attempts"}, "fail": {store.StepError, "broken"}, "stale": {store.StepInProgress, ""}} {
		s := got.Step(name)
		if s.State != w.state || !strings.Contains(string(s.LastError), w.err) || (w.err == "") != (len(s.LastError) == 0) {
			t.Errorf("step %s: state %s, last error %s; want %s, %q", name, s.State, s.LastError, w.state, w.err)
		}
		if w.state != store.StepInProgress && (s.LeaseToken != nil || s.LeaseOwner != nil) {
			t.Errorf("step %s still holds a lease", name)
		}
	}
	if due := got.Step("retry").NextAttemptAt; !due.Equal(b.now.Add(5 * time.Second)) {
		t.Errorf("retry due at %v, want %v (its delay after the commit's time)", due, b.now.Add(5*time.Second))
	}
	h, err := b.s.History(b.ctx, d.Task.ID)
	if err != nil {
		t.Fatal(err)
	}
	moves := map[string]string{}
	for _, tr := range h.Steps {
		for _, s := range got.Steps {
			if s.ID == tr.StepID && tr.FromState != nil && *tr.FromState == string(store.StepInProgress) {
				moves[s.Name] = tr.ToState + " " + string(tr.Metadata)
			}
		}
	}
	for name, w := range map[string]string{"retry": "pending", "last": "error", "fail": "error", "done": "complete"} {
		if !strings.HasPrefix(moves[name], w) {
			t.Errorf("step %s's transition from in_progress: %q, want to %s", name, moves[name], w)
		}
	}
	if !strings.Contains(moves["retry"], "again") || moves["stale"] != "" {
		t.Errorf("transitions: retry %q (want its error as metadata), stale %q (want none)", moves["retry"], moves["stale"])
	}
}
