package storetest

import (
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testStepSuccessRate seeds steps named "charge" with known attempt
// histories and checks the counts per attempt number.
func testStepSuccessRate(t *testing.T, b *bundle) {
	step := func(limit int) []store.NewStep {
		return []store.NewStep{{Name: "charge", Handler: "h.charge", Retryable: true, RetryLimit: limit}}
	}
	fail := func(c *store.ClaimedStep) store.StepOutcome {
		return store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeRetry, Error: store.JSON(`{"error":"boom"}`)}
	}
	// run drives one task: fails failures times, then completes (or, when
	// done is false, stops after the failures).
	run := func(failures int, done bool, limit int) {
		t.Helper()
		b.create(t, step(limit))
		for range failures {
			b.finish(t, fail(b.claimOne(t, "charge")))
		}
		if done {
			b.finish(t, complete(b.claimOne(t, "charge"), `{}`))
		}
	}
	// Older than Since: failed at 1 two days ago, not counted.
	saved := b.now
	b.now = saved.Add(-48 * time.Hour)
	run(1, false, 1)
	b.now = saved
	run(0, true, 3)  // succeeded at 1
	run(0, true, 3)  // succeeded at 1
	run(1, true, 3)  // failed at 1, succeeded at 2
	run(2, true, 3)  // failed at 1 and 2, succeeded at 3
	run(2, false, 2) // failed at 1 and 2 (in error)
	// Not counted: a step running its first attempt, one never claimed,
	// and another name's.
	b.create(t, step(3))
	b.claimOne(t, "charge")
	b.create(t, step(3))
	b.create(t, []store.NewStep{{Name: "other", Handler: "h.other", Retryable: true}})
	// Failed at 1, waiting for its retry (claimed last: its retry is ready).
	b.create(t, step(3))
	var first *store.ClaimedStep
	for _, c := range b.claim(t, 10) {
		if c.Step.Name == "charge" && c.Step.Attempts == 1 {
			first = c
		}
	}
	if first == nil {
		t.Fatal("the last charge step was not claimed")
	}
	b.finish(t, fail(first))

	rate := func(attempt int, limit int) store.StepSuccessRate {
		t.Helper()
		r, err := b.s.StepSuccessRate(b.ctx, &store.StepSuccessRateParams{Name: "charge", Attempt: attempt, Since: saved.Add(-time.Hour), Limit: limit})
		if err != nil {
			t.Fatalf("StepSuccessRate(%d): %v", attempt, err)
		}
		return *r
	}
	for _, c := range []struct {
		attempt          int
		total, succeeded int
	}{{1, 6, 2}, {2, 3, 1}, {3, 1, 1}, {4, 0, 0}} {
		if got := rate(c.attempt, 0); got.Attempts != c.total || got.Succeeded != c.succeeded {
			t.Errorf("attempt %d: got %+v, want %d ended, %d succeeded", c.attempt, got, c.total, c.succeeded)
		}
	}
	if r, ok := (store.StepSuccessRate{Attempts: 4, Succeeded: 1}).Rate(); !ok || r != 0.25 {
		t.Errorf("Rate = %v %v", r, ok)
	}
	if _, ok := (store.StepSuccessRate{}).Rate(); ok {
		t.Error("Rate of no attempts should say so")
	}
	// The sample is bounded: Limit 2 reads at most two steps.
	if got := rate(1, 2); got.Attempts > 2 {
		t.Errorf("limit 2 sampled %d", got.Attempts)
	}
	// The old step counts with an earlier Since.
	r, err := b.s.StepSuccessRate(b.ctx, &store.StepSuccessRateParams{Name: "charge", Attempt: 1, Since: saved.Add(-72 * time.Hour)})
	if err != nil || r.Attempts != 7 || r.Succeeded != 2 {
		t.Errorf("with the old step: %+v, %v", r, err)
	}
	_, err = b.s.StepSuccessRate(b.ctx, &store.StepSuccessRateParams{Attempt: 0, Limit: -1})
	wantErr(t, err, store.ErrInvalid, "name", "attempt", "since", "limit")
}

// testStepSuccessRateOfOneWorkflow: with Namespace and Workflow set, only
// the steps of that workflow's tasks count. Before, the predictive retry
// could only ask by step name, and the history of step "charge" of one
// workflow was every workflow's step of that name.
func testStepSuccessRateOfOneWorkflow(t *testing.T, b *bundle) {
	step := []store.NewStep{{Name: "charge", Handler: "h.charge", Retryable: true, RetryLimit: 3}}
	// test/flow: two charges fail their first attempt.
	for range 2 {
		b.create(t, step)
		b.finish(t, store.StepOutcome{Lease: b.claimOne(t, "charge").Step.Lease(), Kind: store.OutcomeRetry, Error: store.JSON(`{"error":"boom"}`),
			RetryAfter: time.Hour})
	}
	// test/other: three charges succeed at their first.
	for range 3 {
		p := b.params(step)
		p.Name = "other"
		if _, err := b.s.CreateTask(b.ctx, p); err != nil {
			t.Fatal(err)
		}
		b.finish(t, complete(b.claimOne(t, "charge"), `{}`))
	}
	for _, c := range []struct {
		ns, wf           string
		total, succeeded int
	}{{"", "", 5, 3}, {"test", "flow", 2, 0}, {"test", "other", 3, 3}, {"other", "flow", 0, 0}} {
		r, err := b.s.StepSuccessRate(b.ctx, &store.StepSuccessRateParams{Name: "charge", Attempt: 1, Since: b.now.Add(-time.Hour), Namespace: c.ns, Workflow: c.wf})
		if err != nil || r.Attempts != c.total || r.Succeeded != c.succeeded {
			t.Errorf("workflow %q/%q: %+v, %v; want %d ended, %d succeeded", c.ns, c.wf, r, err, c.total, c.succeeded)
		}
	}
	_, err := b.s.StepSuccessRate(b.ctx, &store.StepSuccessRateParams{Name: "charge", Attempt: 1, Since: b.now, Workflow: "flow"})
	wantErr(t, err, store.ErrInvalid, "workflow")
}
