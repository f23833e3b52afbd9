package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// A commit with ClaimUnblockedOnly claims the steps its completions make
// ready — a join only once its last dependency completes, within the
// claim's handlers and room, never a gated step — and leaves other ready
// work alone; the claimed steps carry their inputs and read in history
// like any claim, and a lost lease in the group is reported alone.
func testClaimUnblockedOnly(t *testing.T, b *bundle) {
	claim := func(limit int, handlers ...string) *store.ClaimStepsParams {
		return &store.ClaimStepsParams{Owner: "worker-2", Limit: limit, LeaseTTL: time.Minute, Handlers: handlers, Now: b.now}
	}
	finish := func(c *store.ClaimStepsParams, outcomes ...store.StepOutcome) *store.FinishStepsResult {
		t.Helper()
		res, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: outcomes, Now: b.now, Claim: c, ClaimUnblockedOnly: true})
		if err != nil {
			t.Fatalf("FinishSteps: %v", err)
		}
		return res
	}
	d := b.create(t, diamond())
	a := b.claimOne(t, "a")
	other := b.create(t, chain("other")) // ready, older than b and c: not taken
	// a unblocks b and c; the claim serves b's handler only.
	res := finish(claim(5, "h.b", "h.d"), complete(a, `{"a":1}`))
	if res.Unblocked != 2 || len(res.Claimed) != 1 || res.Steps[0].Err != nil {
		t.Fatalf("a done: unblocked %d, claimed %v, err %v; want 2, b", res.Unblocked, names(res.Claimed), res.Steps[0].Err)
	}
	first := res.Claimed[0]
	if first.Step.Name != "b" || first.Step.State != store.StepInProgress || first.Step.Attempts != 1 ||
		first.Step.LeaseOwner == nil || *first.Step.LeaseOwner != "worker-2" || first.Step.PendingDeps != 0 {
		t.Fatalf("claimed step: %+v", first.Step)
	}
	if strings.ReplaceAll(string(first.Deps["a"]), " ", "") != `{"a":1}` || first.Task == nil || first.Task.ID != d.Task.ID || strings.ReplaceAll(string(first.Task.Context), " ", "") != `{"n":1}` {
		t.Fatalf("claimed step's inputs: deps %v, task %+v", first.Deps, first.Task)
	}
	// The other unblocked step and the older task are still claimable.
	rest, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "worker-1", Limit: 10, LeaseTTL: time.Minute, Handlers: []string{"h.b", "h.c"}, Now: b.now})
	if err != nil || len(rest) != 1 || rest[0].Step.Name == first.Step.Name {
		t.Fatalf("claim after: %v, %v", names(rest), err)
	}
	if got := stepState(t, b, other.Steps[0].ID); got != store.StepPending {
		t.Fatalf("the other task's ready step is %s, want pending (not claimed by the commit)", got)
	}
	// The join: completing b unblocks nothing; c releases d, claimed with
	// both results (b's read, c's from this commit).
	if res := finish(claim(5), complete(first, `{"b":2}`)); res.Unblocked != 0 || len(res.Claimed) != 0 {
		t.Fatalf("first of the join: unblocked %d, claimed %v", res.Unblocked, names(res.Claimed))
	}
	res = finish(claim(5), complete(rest[0], `{"c":3}`))
	if res.Unblocked != 1 || len(res.Claimed) != 1 || res.Claimed[0].Step.Name != "d" {
		t.Fatalf("second of the join: unblocked %d, claimed %v", res.Unblocked, names(res.Claimed))
	}
	dd := res.Claimed[0]
	if len(dd.Deps) != 2 || strings.ReplaceAll(string(dd.Deps["b"]), " ", "") != `{"b":2}` || strings.ReplaceAll(string(dd.Deps["c"]), " ", "") != `{"c":3}` {
		t.Fatalf("the join's inputs: %v", dd.Deps)
	}
	got := b.claimOne(t, "other")
	if res := finish(nil, complete(got, `{}`)); len(res.Tasks) != 1 || res.Tasks[0].To != store.TaskComplete {
		t.Fatalf("the other task: %+v", res.Tasks)
	}
	if res := finish(claim(5), complete(dd, `{}`)); len(res.Tasks) != 1 || res.Tasks[0].TaskID != d.Task.ID || res.Tasks[0].To != store.TaskComplete {
		t.Fatalf("d done: tasks %+v", res.Tasks)
	}
	h, err := b.s.History(b.ctx, d.Task.ID)
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, tr := range h.Steps {
		if tr.StepID == first.Step.ID {
			path = append(path, *tr.FromState+"→"+tr.ToState)
		}
	}
	if strings.Join(path, " ") != "pending→in_progress in_progress→complete" {
		t.Fatalf("claimed step's history = %v", path)
	}

	// A gated dependant is left to the claim loop; a lost lease in the
	// group fails alone.
	p := b.params(chain("g1", "g2"))
	p.ConcGroup, p.ConcMax = "unblocked-group", 1
	gated, err := b.s.CreateTask(b.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	g1, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "worker-1", Limit: 1, LeaseTTL: time.Minute, Grouped: true, Now: b.now})
	if err != nil || len(g1) != 1 || g1[0].Step.Name != "g1" {
		t.Fatalf("claiming g1: %v, %v", names(g1), err)
	}
	x := b.create(t, chain("x"))
	xc := b.claimOne(t, "x")
	stale := complete(xc, `{}`)
	stale.Lease.Token++
	res = finish(claim(5), complete(g1[0], `{}`), stale)
	if res.Unblocked != 1 || len(res.Claimed) != 0 || res.Steps[0].Err != nil || !errors.Is(res.Steps[1].Err, store.ErrLeaseLost) {
		t.Fatalf("gated: unblocked %d, claimed %v, errs %v, %v", res.Unblocked, names(res.Claimed), res.Steps[0].Err, res.Steps[1].Err)
	}
	if s := stepState(t, b, xc.Step.ID); s != store.StepInProgress {
		t.Fatalf("the stale outcome moved x to %s", s)
	}
	_ = gated
	_ = x
}

// A commit with ClaimUnblockedOnly takes no more of the steps it makes
// ready than its room, and none that is not due yet; those it leaves are
// counted ready (Unblocked) and stay claimable, each once.
func testClaimUnblockedRoom(t *testing.T, b *bundle) {
	steps := []store.NewStep{
		{Name: "a", Handler: "h.a", Retryable: true},
		{Name: "b", Handler: "h.b", Retryable: true, DependsOn: []string{"a"}},
		{Name: "c", Handler: "h.c", Retryable: true, DependsOn: []string{"a"}},
		{Name: "d", Handler: "h.d", Retryable: true, DependsOn: []string{"a"}},
		{Name: "late", Handler: "h.late", Retryable: true, DependsOn: []string{"a"}, NotBefore: b.now.Add(time.Hour)},
	}
	for _, room := range []int{1, 2, 4} {
		d := b.create(t, steps)
		a := b.claimOne(t, "a")
		res, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{complete(a, `{}`)}, Now: b.now,
			Claim: &store.ClaimStepsParams{Owner: "worker-2", Limit: room, LeaseTTL: time.Minute, Now: b.now}, ClaimUnblockedOnly: true})
		if err != nil {
			t.Fatalf("room %d: FinishSteps: %v", room, err)
		}
		want := min(room, 3) // late is not due
		if res.Unblocked != 4 || len(res.Claimed) != want {
			t.Fatalf("room %d: unblocked %d, claimed %v; want 4 and %d", room, res.Unblocked, names(res.Claimed), want)
		}
		seen := map[string]bool{}
		for _, c := range res.Claimed {
			if c.Step.Name == "late" || c.Step.State != store.StepInProgress || c.Step.Attempts != 1 || c.Step.PendingDeps != 0 || c.Task == nil || c.Task.ID != d.Task.ID {
				t.Fatalf("room %d: claimed %+v", room, c.Step)
			}
			seen[c.Step.Name] = true
		}
		// The rest are ready for the claim loop; late stays pending.
		rest, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "worker-1", Limit: 10, LeaseTTL: time.Minute, Now: b.now})
		if err != nil || len(rest) != 3-want {
			t.Fatalf("room %d: claim after: %v, %v; want %d steps", room, names(rest), err, 3-want)
		}
		for _, c := range rest {
			if seen[c.Step.Name] || c.Step.Name == "late" {
				t.Fatalf("room %d: %s claimed again", room, c.Step.Name)
			}
		}
		late := d.Steps[4]
		if late.Name != "late" {
			t.Fatalf("step order: %s", late.Name)
		}
		if st, err := b.s.GetStep(b.ctx, late.ID); err != nil || st.State != store.StepPending || st.PendingDeps != 0 || st.Attempts != 0 {
			t.Fatalf("room %d: late step %+v, %v; want pending, ready, no attempt", room, st, err)
		}
		for _, c := range append(res.Claimed, rest...) {
			b.finish(t, complete(c, `{}`))
		}
	}
}

// The steps a commit with ClaimUnblockedOnly claims come with their inputs
// and their task (its steps left counted as the commit leaves them), whether they are few (a chain's next step) or many (a
// fan-out), and whether their dependencies completed in that commit or
// before it.
func testClaimUnblockedInputs(t *testing.T, b *bundle) {
	for _, fan := range []int{1, 3, 6} {
		steps := []store.NewStep{{Name: "a", Handler: "h.a", Retryable: true}, {Name: "z", Handler: "h.z", Retryable: true}}
		for i := range fan {
			steps = append(steps, store.NewStep{Name: fmt.Sprintf("s%d", i), Handler: "h.s", Retryable: true, DependsOn: []string{"a", "z"}})
		}
		d := b.create(t, steps)
		first, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "worker-1", Limit: 2, LeaseTTL: time.Minute, Now: b.now})
		if err != nil || len(first) != 2 {
			t.Fatalf("fan %d: claiming a and z: %v, %v", fan, names(first), err)
		}
		a, z := first[0], first[1]
		if a.Step.Name != "a" {
			a, z = z, a
		}
		b.finish(t, complete(z, `{"z":0}`)) // one dependency done before
		res, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{complete(a, `{"a":1}`)}, Now: b.now,
			Claim: &store.ClaimStepsParams{Owner: "worker-2", Limit: 10, LeaseTTL: time.Minute, Now: b.now}, ClaimUnblockedOnly: true})
		if err != nil {
			t.Fatalf("fan %d: FinishSteps: %v", fan, err)
		}
		if len(res.Claimed) != fan {
			t.Fatalf("fan %d: claimed %v", fan, names(res.Claimed))
		}
		for i, c := range res.Claimed {
			// The task as the commit leaves it: a and z done, the fan left.
			if c.Step.Name != fmt.Sprintf("s%d", i) || c.Task == nil || c.Task.ID != d.Task.ID || strings.ReplaceAll(string(c.Task.Context), " ", "") != `{"n":1}` || c.Task.Unfinished != fan ||
				len(c.Deps) != 2 || strings.ReplaceAll(string(c.Deps["a"]), " ", "") != `{"a":1}` || strings.ReplaceAll(string(c.Deps["z"]), " ", "") != `{"z":0}` {
				t.Fatalf("fan %d: claimed %s with task %+v, deps %v", fan, c.Step.Name, c.Task, c.Deps)
			}
		}
		for _, c := range res.Claimed {
			b.finish(t, complete(c, `{}`))
		}
	}
}
