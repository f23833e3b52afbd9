package storetest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

func testClaimNeverTwice(t *testing.T, b *bundle) {
	const tasks = 200
	for range tasks {
		b.create(t, chain("only"))
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for {
				got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w" + string(rune('a'+w)), Limit: 7, LeaseTTL: time.Minute, Now: b.now})
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				if len(got) > 7 {
					t.Errorf("claim with limit 7 returned %d steps", len(got))
				}
				mu.Lock()
				for _, c := range got {
					seen[c.Step.ID]++
					if c.Task == nil || c.Task.ID != c.Step.TaskID || c.Step.Attempts != 1 || c.Step.State != store.StepInProgress {
						t.Errorf("claimed step %+v with task %+v", c.Step, c.Task)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != tasks {
		t.Fatalf("claimed %d distinct steps, want %d", len(seen), tasks)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("step %d claimed %d times", id, n)
		}
	}
}

func testClaimSkipsFinishedTasks(t *testing.T, b *bundle) {
	failed := b.create(t, chain("x"))
	if _, err := b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: failed.Task.ID, From: store.TaskPending, To: store.TaskError}); err != nil {
		t.Fatal(err)
	}
	cancelled := b.create(t, chain("y"))
	if _, err := b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: cancelled.Task.ID}); err != nil {
		t.Fatal(err)
	}
	live := b.create(t, chain("z"))
	c := b.claimOne(t, "z")
	if c.Task.ID != live.Task.ID || c.Task.State != store.TaskInProgress {
		t.Fatalf("claimed task %+v", c.Task)
	}
}

func testClaimByHandler(t *testing.T, b *bundle) {
	d := b.create(t, []store.NewStep{{Name: "a", Handler: "mail"}, {Name: "b", Handler: "pay"}})
	got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Minute, Handlers: []string{"pay"}, Now: b.now})
	if err != nil || len(got) != 1 || got[0].Step.Handler != "pay" {
		t.Fatalf("claim by handler = %v, %v", names(got), err)
	}
	// A handler no step can have matches nothing: refused, naming it.
	_, err = b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Minute, Handlers: []string{"mail", ""}, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "handlers[1]", "required")
	p := b.params(chain("x"))
	p.Lease = &store.StartLease{Owner: "w", TTL: time.Minute, Limit: 1, Handlers: []string{"h.x", "a\x00b"}}
	_, err = b.s.CreateTask(b.ctx, p)
	wantErr(t, err, store.ErrInvalid, "lease.handlers[1]", "NUL")
	if _, err := b.s.GetTaskByIdentity(b.ctx, p.IdentityKey); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused start: %v; want no task", err)
	}
	if s := stepState(t, b, d.Step("a").ID); s != store.StepPending {
		t.Fatalf("a refused claim moved step a to %s", s)
	}
}

// Claims take the queues asked for, highest priority first, FIFO within a
// priority; a ByReadyTime claim takes the longest-waiting step whatever its
// priority.
func testClaimByQueueAndPriority(t *testing.T, b *bundle) {
	mk := func(queue string, priority int, name string) {
		p := b.params([]store.NewStep{{Name: name, Handler: "h"}})
		p.Queue, p.Priority = queue, priority
		if _, err := b.s.CreateTask(b.ctx, p); err != nil {
			t.Fatalf("CreateTask %s: %v", name, err)
		}
	}
	mk("a", 0, "a-low-1")
	mk("b", 5, "b-mid")
	mk("a", 9, "a-high")
	mk("c", 9, "c-high") // a queue not asked for
	mk("a", 0, "a-low-2")
	mk("", 9, "default-high")
	claim := func(limit int, byReady bool, queues ...string) []string {
		t.Helper()
		got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: limit, LeaseTTL: time.Minute, Queues: queues, ByReadyTime: byReady, Now: b.now})
		if err != nil {
			t.Fatalf("claim %v: %v", queues, err)
		}
		n := names(got)
		slices.Sort(n) // a claim returns its steps by id
		return n
	}
	if got := claim(1, true, "a", "b"); fmt.Sprint(got) != "[a-low-1]" {
		t.Fatalf("by ready time: %v, want the longest-waiting step", got)
	}
	if got := claim(1, false, "a"); fmt.Sprint(got) != "[a-high]" {
		t.Fatalf("by priority within a queue: %v", got)
	}
	if got := claim(5, false, "a", "b"); fmt.Sprint(got) != "[a-low-2 b-mid]" {
		t.Fatalf("two queues taking turns: %v", got)
	}
	if got := claim(5, false, store.DefaultQueue); fmt.Sprint(got) != "[default-high]" {
		t.Fatalf("the default queue: %v", got)
	}
	if _, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 1, LeaseTTL: time.Minute, Queues: []string{""}, Now: b.now}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("an empty queue name: %v", err)
	}
}

func testDependencyCounters(t *testing.T, b *bundle) {
	d := b.create(t, diamond())
	a := b.claimOne(t, "a")
	if len(a.Deps) != 0 || string(a.Task.Context) == "" {
		t.Fatalf("root step inputs: deps %v, context %s", a.Deps, a.Task.Context)
	}
	res := b.finish(t, complete(a, `{"from":"a"}`))
	if res.Unblocked != 2 || res.Steps[0].State != store.StepComplete {
		t.Fatalf("finishing a: %+v", res)
	}
	bc := b.claim(t, 10)
	if len(bc) != 2 {
		t.Fatalf("claimed %v, want b and c", names(bc))
	}
	for _, c := range bc {
		var v map[string]string
		if err := c.Deps["a"].Decode(&v); err != nil || v["from"] != "a" {
			t.Fatalf("step %s sees deps %v (%v)", c.Step.Name, c.Deps, err)
		}
	}
	if res := b.finish(t, complete(bc[0], `{}`)); res.Unblocked != 0 {
		t.Fatalf("d unblocked with one of two dependencies done")
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed %v before d's dependencies finished", names(got))
	}
	if res := b.finish(t, complete(bc[1], `{}`)); res.Unblocked != 1 {
		t.Fatalf("unblocked = %d, want 1", res.Unblocked)
	}
	last := b.claimOne(t, "d")
	if len(last.Deps) != 2 {
		t.Fatalf("d sees deps %v", last.Deps)
	}
	res = b.finish(t, complete(last, `{"done":true}`))
	if len(res.Tasks) != 1 || res.Tasks[0].To != store.TaskComplete || res.Tasks[0].TaskID != d.Task.ID {
		t.Fatalf("task changes = %+v, want the task complete", res.Tasks)
	}
	got := b.get(t, d.Task.ID).Task
	if got.State != store.TaskComplete || got.Unfinished != 0 || got.CompletedAt == nil {
		t.Fatalf("task after last step = %+v", got)
	}
}

func testLeaseExpiry(t *testing.T, b *bundle) {
	b.create(t, chain("slow"))
	c := b.claimOne(t, "slow")
	rescue := func(at time.Time) *store.RescueResult {
		r, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: at})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := rescue(b.now.Add(30 * time.Second)); r.Rescued != 0 {
		t.Fatalf("rescued a live lease: %+v", r)
	}
	if r := rescue(b.now.Add(2 * time.Minute)); r.Rescued != 1 || len(r.Steps) != 1 {
		t.Fatalf("rescue after expiry = %+v, want 1", r)
	} else if rs := r.Steps[0]; rs.StepID != c.Step.ID || rs.TaskID != c.Step.TaskID || rs.Name != "slow" || rs.Attempts != 1 ||
		rs.State != store.StepPending || !strings.Contains(string(rs.Error), "lease expired") {
		t.Fatalf("rescued step reported as %+v, want step %d (slow) of task %d, 1 attempt, pending, its lease expired", rs, c.Step.ID, c.Step.TaskID)
	}
	st, _ := b.s.GetStep(b.ctx, c.Step.ID)
	if st.State != store.StepPending || st.Attempts != 1 || st.LeaseToken != nil {
		t.Fatalf("rescued step = state %s attempts %d token %v", st.State, st.Attempts, st.LeaseToken)
	}
	b.now = b.now.Add(2 * time.Minute)
	again := b.claimOne(t, "slow")
	if again.Step.Attempts != 2 {
		t.Fatalf("attempts after re-claim = %d, want 2 (the lost attempt counts)", again.Step.Attempts)
	}
	// Out of attempts: the third expiry fails the step and its task.
	rescue(b.now.Add(2 * time.Minute))
	b.now = b.now.Add(2 * time.Minute)
	b.claimOne(t, "slow")
	r := rescue(b.now.Add(2 * time.Minute))
	if r.Failed != 1 || len(r.Tasks) != 1 || r.Tasks[0].To != store.TaskError {
		t.Fatalf("rescue with no attempts left = %+v", r)
	}
	if len(r.Steps) != 1 || r.Steps[0].StepID != c.Step.ID || r.Steps[0].State != store.StepError || r.Steps[0].Attempts != 3 {
		t.Fatalf("rescue with no attempts left reports steps %+v, want step %d in error after 3 attempts", r.Steps, c.Step.ID)
	}
	// The failed task comes with the result, as the pass left it, without
	// its context (which may be large).
	if len(r.FailedTasks) != 1 {
		t.Fatalf("rescue's failed tasks = %+v, want the one task", r.FailedTasks)
	}
	if ft := r.FailedTasks[0]; ft.ID != r.Tasks[0].TaskID || ft.State != store.TaskError || ft.Namespace != "test" || ft.Name != "flow" ||
		ft.Version != "1.0.0" || !strings.Contains(string(ft.LastError), "lease expired") || ft.CreatedAt.IsZero() || ft.Context != nil {
		t.Fatalf("rescue's failed task = %+v, want task %d in error with its workflow and last error, without context", ft, r.Tasks[0].TaskID)
	}
}

func testStaleLease(t *testing.T, b *bundle) {
	b.create(t, chain("s"))
	zombie := b.claimOne(t, "s")
	if _, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: b.now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b.now = b.now.Add(time.Hour)
	live := b.claimOne(t, "s")
	res := b.finish(t, complete(zombie, `{"by":"zombie"}`))
	if !errors.Is(res.Steps[0].Err, store.ErrLeaseLost) {
		t.Fatalf("zombie completion: %+v, want ErrLeaseLost", res.Steps[0])
	}
	res = b.finish(t, complete(live, `{"by":"live"}`))
	if res.Steps[0].Err != nil || res.Steps[0].State != store.StepComplete {
		t.Fatalf("live completion: %+v", res.Steps[0])
	}
	st, _ := b.s.GetStep(b.ctx, live.Step.ID)
	if string(st.Results) == "" || st.State != store.StepComplete {
		t.Fatalf("step = %+v", st)
	}
	var v map[string]string
	if err := st.Results.Decode(&v); err != nil || v["by"] != "live" {
		t.Fatalf("results = %s, want the live worker's", st.Results)
	}
	// The zombie cannot complete after the live one either.
	if res := b.finish(t, complete(zombie, `{}`)); !errors.Is(res.Steps[0].Err, store.ErrLeaseLost) {
		t.Fatalf("late zombie: %+v", res.Steps[0])
	}
}

func testRetryExhaustion(t *testing.T, b *bundle) {
	d := b.create(t, []store.NewStep{{Name: "flaky", Handler: "h", Retryable: true, RetryLimit: 2}})
	c := b.claimOne(t, "flaky")
	res := b.finish(t, store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeRetry, Error: store.JSON(`{"error":"boom"}`), RetryAfter: 10 * time.Second})
	if res.Steps[0].State != store.StepPending {
		t.Fatalf("after first failure: %+v", res.Steps[0])
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed %v before its backoff elapsed", names(got))
	}
	b.now = b.now.Add(10 * time.Second)
	c = b.claimOne(t, "flaky")
	res = b.finish(t, store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeRetry, Error: store.JSON(`{"error":"boom again"}`)})
	if res.Steps[0].State != store.StepError || len(res.Tasks) != 1 || res.Tasks[0].To != store.TaskError {
		t.Fatalf("after the last attempt: %+v", res)
	}
	got := b.get(t, d.Task.ID)
	if got.Steps[0].Attempts != 2 || string(got.Task.LastError) == "" {
		t.Fatalf("exhausted step attempts %d, task error %s", got.Steps[0].Attempts, got.Task.LastError)
	}
}

func testNotRetryable(t *testing.T, b *bundle) {
	b.create(t, []store.NewStep{{Name: "once", Handler: "h", Retryable: false, RetryLimit: 5}})
	c := b.claimOne(t, "once") // the first attempt runs although not retryable
	res := b.finish(t, store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeRetry, Error: store.JSON(`{}`)})
	if res.Steps[0].State != store.StepError {
		t.Fatalf("non-retryable step after a failure: %s", res.Steps[0].State)
	}
}

func testPermanentFailure(t *testing.T, b *bundle) {
	d := b.create(t, chain("a", "b"))
	other := b.create(t, chain("z"))
	got := b.claim(t, 10)
	var a *store.ClaimedStep
	for _, c := range got {
		if c.Step.TaskID == d.Task.ID {
			a = c
		}
	}
	res := b.finish(t, store.StepOutcome{Lease: a.Step.Lease(), Kind: store.OutcomeFail, Error: store.JSON(`{"error":"card declined"}`)})
	if res.Steps[0].State != store.StepError || len(res.Tasks) != 1 || res.Tasks[0].TaskID != d.Task.ID {
		t.Fatalf("permanent failure: %+v", res)
	}
	if st := b.get(t, other.Task.ID).Task.State; st != store.TaskInProgress {
		t.Fatalf("the other task is %s", st)
	}
	if st := b.get(t, d.Task.ID).Step("b").State; st != store.StepPending {
		t.Fatalf("dependant of a failed step is %s, want pending (never started)", st)
	}
}

func testExtendAndRelease(t *testing.T, b *bundle) {
	b.create(t, chain("x"))
	b.create(t, chain("y"))
	got := b.claim(t, 10)
	lost, err := b.s.ExtendLeases(b.ctx, &store.ExtendLeasesParams{Leases: []store.Lease{got[0].Step.Lease(), {StepID: got[1].Step.ID, Token: 42}}, LeaseTTL: time.Hour, Now: b.now})
	if err != nil || len(lost) != 1 || lost[0].StepID != got[1].Step.ID {
		t.Fatalf("extend = %v, %v; want the forged lease reported lost", lost, err)
	}
	st, _ := b.s.GetStep(b.ctx, got[0].Step.ID)
	if st.LeaseExpiresAt == nil || st.LeaseExpiresAt.Sub(b.now) < 59*time.Minute {
		t.Fatalf("lease expiry %v not pushed an hour past %v", st.LeaseExpiresAt, b.now)
	}
	if _, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: b.now.Add(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if s := stepState(t, b, got[0].Step.ID); s != store.StepInProgress {
		t.Fatalf("extended lease was rescued: %s", s)
	}
	if s := stepState(t, b, got[1].Step.ID); s != store.StepPending {
		t.Fatalf("unextended lease was not rescued: %s", s)
	}
	n, err := b.s.ReleaseLeases(b.ctx, &store.ReleaseLeasesParams{Leases: []store.Lease{got[0].Step.Lease(), got[1].Step.Lease()}, Now: b.now})
	if err != nil || n != 1 {
		t.Fatalf("release = %d, %v; want only the live lease released", n, err)
	}
	st, _ = b.s.GetStep(b.ctx, got[0].Step.ID)
	if st.State != store.StepPending || st.Attempts != 0 {
		t.Fatalf("released step: %s, attempts %d; want pending with the attempt given back", st.State, st.Attempts)
	}
}

// testClaimRespectsLimit pins a Postgres planning trap: a LIMITed, locking
// subquery under "id IN (...)" may run once per outer row, each run picking
// rows the previous ones did not, so a claim or rescue returned more than
// its limit.
func testClaimRespectsLimit(t *testing.T, b *bundle) {
	for range 6 {
		b.create(t, chain("a", "b")) // six ready steps, six waiting
	}
	for limit := 1; limit <= 3; limit++ {
		if got := b.claim(t, limit); len(got) != limit {
			t.Fatalf("claim with limit %d returned %d steps", limit, len(got))
		}
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed %v, whose dependencies are running", names(got))
	}
	for limit := 1; limit <= 2; limit++ {
		r, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Limit: limit, Now: b.now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if r.Rescued+r.Failed != limit {
			t.Fatalf("rescue with limit %d handled %d steps", limit, r.Rescued+r.Failed)
		}
	}
	counts, err := b.s.CountByState(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Steps[store.StepInProgress] != 3 || counts.Steps[store.StepPending] != 9 {
		t.Fatalf("step counts %v, want 3 in progress and 9 pending", counts.Steps)
	}
}

// Completing a step can claim the dependants it releases in the same
// transaction; they come back leased, with their inputs.
func testFinishAndClaim(t *testing.T, b *bundle) {
	d := b.create(t, chain("first", "second", "third"))
	first := b.claimOne(t, "first")
	// The claim started the task: the inputs show the row as it left it.
	if first.Task == nil || first.Task.ID != d.Task.ID || first.Task.State != store.TaskInProgress || first.Task.TransitionSeq != d.Task.TransitionSeq+1 {
		t.Fatalf("claimed step's task: %+v", first.Task)
	}
	res, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{
		Outcomes: []store.StepOutcome{complete(first, `{"n":1}`)}, Now: b.now,
		Claim: &store.ClaimStepsParams{Owner: "worker-1", Limit: 5, LeaseTTL: time.Minute, Now: b.now},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Claimed) != 1 || res.Claimed[0].Step.Name != "second" || res.Claimed[0].Step.State != store.StepInProgress || res.Claimed[0].Step.Attempts != 1 {
		t.Fatalf("claimed with the completion: %v", names(res.Claimed))
	}
	if string(res.Claimed[0].Deps["first"]) == "" || res.Claimed[0].Task.ID != d.Task.ID {
		t.Fatalf("claimed step's inputs: deps %v task %v", res.Claimed[0].Deps, res.Claimed[0].Task)
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed %v again", names(got))
	}
	// A refused claim (bad params) refuses the whole call: nothing recorded.
	second := res.Claimed[0]
	_, err = b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{complete(second, `{}`)}, Claim: &store.ClaimStepsParams{}})
	wantErr(t, err, store.ErrInvalid, "claim")
	if s := stepState(t, b, second.Step.ID); s != store.StepInProgress {
		t.Fatalf("refused call changed the step to %s", s)
	}
}

// A child task that finishes (or is cancelled) makes its parent's waiting
// step ready at once, in the same transaction.
func testChildWakesParent(t *testing.T, b *bundle) {
	for _, end := range []string{"complete", "cancel"} {
		pp := b.params([]store.NewStep{{Name: "wait", Handler: "driver", NotBefore: b.now.Add(time.Hour)}})
		parent, err := b.s.CreateTask(b.ctx, pp)
		if err != nil {
			t.Fatal(err)
		}
		cp := b.params(chain("child"))
		cp.ParentID = &parent.Task.ID
		child, err := b.s.CreateTask(b.ctx, cp)
		if err != nil {
			t.Fatal(err)
		}
		if end == "complete" {
			b.finish(t, complete(b.claimOne(t, "child"), `{}`))
		} else if _, err := b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: child.Task.ID, Now: b.now}); err != nil {
			t.Fatal(err)
		}
		if c := b.claimOne(t, "wait"); c.Task.ID != parent.Task.ID {
			t.Fatalf("%s: claimed a step of task %d", end, c.Task.ID)
		}
	}
}

// One group can carry two outcomes of one step — the attempt that lost its
// lease and the one that took the step over — in either order: the
// current one is recorded (its transition written once, its results
// kept), the stale one reported lost.
func testStaleAndLiveInOneGroup(t *testing.T, b *bundle) {
	for _, staleFirst := range []bool{true, false} {
		d := b.create(t, chain("s", "next"))
		zombie := b.claimOne(t, "s")
		if _, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: b.now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		b.now = b.now.Add(time.Hour)
		live := b.claimOne(t, "s")
		stale := complete(zombie, `{"by":"zombie"}`)
		outcomes := []store.StepOutcome{stale, complete(live, `{"by":"live"}`)}
		if !staleFirst {
			outcomes[0], outcomes[1] = outcomes[1], outcomes[0]
		}
		si, li := 0, 1
		if !staleFirst {
			si, li = 1, 0
		}
		res, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: outcomes, Now: b.now,
			Claim: &store.ClaimStepsParams{Owner: "worker-1", Limit: 5, LeaseTTL: time.Minute, Now: b.now}, ClaimUnblockedOnly: true})
		if err != nil {
			t.Fatalf("stale first %v: FinishSteps: %v", staleFirst, err)
		}
		if !errors.Is(res.Steps[si].Err, store.ErrLeaseLost) || res.Steps[li].Err != nil || res.Steps[li].State != store.StepComplete {
			t.Fatalf("stale first %v: stale %+v, live %+v", staleFirst, res.Steps[si], res.Steps[li])
		}
		if st, err := b.s.GetStep(b.ctx, live.Step.ID); err != nil || !strings.Contains(string(st.Results), "live") {
			t.Fatalf("stale first %v: step results %s, %v; want the live attempt's", staleFirst, st.Results, err)
		}
		if len(res.Claimed) != 1 || res.Claimed[0].Step.Name != "next" {
			t.Fatalf("stale first %v: claimed %v, want next", staleFirst, names(res.Claimed))
		}
		h, err := b.s.History(b.ctx, d.Task.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, tr := range h.Steps {
			if tr.StepID == live.Step.ID && tr.ToState == string(store.StepComplete) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("stale first %v: %d moves to complete, want 1", staleFirst, n)
		}
		if r := b.finish(t, complete(res.Claimed[0], `{}`)); len(r.Tasks) != 1 || r.Tasks[0].To != store.TaskComplete {
			t.Fatalf("stale first %v: the task did not complete: %+v", staleFirst, r.Tasks)
		}
	}
}

// A commit that retries a step (due at once) and claims whatever is ready
// may take that same step again: its history reads in order.
func testRetryClaimedInSameCommit(t *testing.T, b *bundle) {
	d := b.create(t, chain("s"))
	first := b.claimOne(t, "s")
	retry := store.StepOutcome{Lease: first.Step.Lease(), Kind: store.OutcomeRetry, Error: store.JSON(`{"error":"again"}`)}
	res, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{retry}, Now: b.now,
		Claim: &store.ClaimStepsParams{Owner: "worker-1", Limit: 5, LeaseTTL: time.Minute, Now: b.now}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Claimed) != 1 || res.Claimed[0].Step.ID != first.Step.ID || res.Claimed[0].Step.Attempts != 2 {
		t.Fatalf("claimed %v with the retry, want step s again (attempt 2)", names(res.Claimed))
	}
	h, err := b.s.History(b.ctx, d.Task.ID)
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, tr := range h.Steps {
		path = append(path, *tr.FromState+"→"+tr.ToState)
	}
	if got := strings.Join(path, " "); got != "pending→in_progress in_progress→pending pending→in_progress" {
		t.Fatalf("history in id order: %s", got)
	}
}

// An extension by a TTL that is not positive would move the leases'
// expiry to now or into the past, handing live attempts to the next
// rescue: it is refused, naming the TTL, and no lease moves.
func testExtendLeasesBadTTL(t *testing.T, b *bundle) {
	b.create(t, chain("x"))
	got := b.claimOne(t, "x")
	before, err := b.s.GetStep(b.ctx, got.Step.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ttl := range []time.Duration{0, -time.Hour} {
		lost, err := b.s.ExtendLeases(b.ctx, &store.ExtendLeasesParams{Leases: []store.Lease{got.Step.Lease()}, LeaseTTL: ttl, Now: b.now})
		wantErr(t, err, store.ErrInvalid, "lease_ttl", ttl.String())
		if lost != nil {
			t.Fatalf("refused extension reported lost leases %v", lost)
		}
	}
	after, err := b.s.GetStep(b.ctx, got.Step.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !after.LeaseExpiresAt.Equal(*before.LeaseExpiresAt) {
		t.Fatalf("refused extensions moved the lease's expiry from %v to %v", before.LeaseExpiresAt, after.LeaseExpiresAt)
	}
}

// A release with no params, or with a lease of an id no step can have, is
// refused naming it, and releases nothing: not even the good leases
// beside the bad one (a nil params pointer panicked; a bad id was
// skipped while the others were released).
func testReleaseLeasesBadInput(t *testing.T, b *bundle) {
	b.create(t, chain("x"))
	got := b.claimOne(t, "x")
	n, err := b.s.ReleaseLeases(b.ctx, nil)
	wantErr(t, err, store.ErrInvalid, "releasing leases", "params: is nil")
	if n != 0 {
		t.Fatalf("refused release reported %d released", n)
	}
	n, err = b.s.ReleaseLeases(b.ctx, &store.ReleaseLeasesParams{Leases: []store.Lease{got.Step.Lease(), {StepID: 0, Token: 1}}, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "releasing leases", "leases[1].step_id", "got 0")
	if n != 0 {
		t.Fatalf("refused release reported %d released", n)
	}
	if s := stepState(t, b, got.Step.ID); s != store.StepInProgress {
		t.Fatalf("refused release moved the leased step to %s", s)
	}
}

// A claim's Limit past MaxCount is refused, naming it: the grouped pass
// asks for four times its room, which wrapped round to a negative LIMIT
// (PostgreSQL refused it, SQLite read it as no limit).
func testClaimLimitTooLarge(t *testing.T, b *bundle) {
	p := b.params(chain("x"))
	p.ConcGroup, p.ConcMax = "g", 1
	if _, err := b.s.CreateTask(b.ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: math.MaxInt, LeaseTTL: time.Minute, Grouped: true, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "claiming steps", "limit", fmt.Sprint(math.MaxInt))
	if got != nil {
		t.Fatalf("refused claim returned %d steps", len(got))
	}
	again, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Minute, Grouped: true, Now: b.now})
	if err != nil || len(again) != 1 {
		t.Fatalf("after the refused claim, a claim took %d steps (%v); want the one, left pending", len(again), err)
	}
}

// A rescue with a negative limit is refused, naming it, and rescues
// nothing (it rescued up to the default 1000).
func testRescueExpiredBadLimit(t *testing.T, b *bundle) {
	b.create(t, chain("x"))
	got := b.claimOne(t, "x")
	res, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Limit: -1, Now: b.now.Add(time.Hour)})
	wantErr(t, err, store.ErrInvalid, "limit", "-1")
	if res != nil {
		t.Fatalf("refused rescue reported %+v", res)
	}
	if s := stepState(t, b, got.Step.ID); s != store.StepInProgress {
		t.Fatalf("refused rescue moved the expired step to %s", s)
	}
}

// A rescue given an ExpiredCause records it, in place of the store's own,
// as the last error of the steps whose lease expired and their moves'
// metadata; one that is not a JSON object is refused and moves nothing.
func testRescueRecordsTheExpiredCause(t *testing.T, b *bundle) {
	b.create(t, chain("slow"))
	c := b.claimOne(t, "slow")
	at := b.now.Add(2 * time.Minute)
	_, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: at, ExpiredCause: store.JSON(`{"kind":`)})
	wantErr(t, err, store.ErrInvalid, "expired_cause")
	if s := stepState(t, b, c.Step.ID); s != store.StepInProgress {
		t.Fatalf("refused rescue moved the expired step to %s", s)
	}
	cause := store.JSON(`{"error":"lease expired: diagnosed","kind":"error","reason":"lease_expired"}`)
	res, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: at, ExpiredCause: cause})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 1 || !strings.Contains(string(res.Steps[0].Error), "diagnosed") {
		t.Fatalf("rescue %+v, want the step rescued with the cause", res)
	}
	st, err := b.s.GetStep(b.ctx, c.Step.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != store.StepPending || !strings.Contains(string(st.LastError), "diagnosed") {
		t.Fatalf("rescued step: %s, last error %s; want pending with the cause", st.State, st.LastError)
	}
	h, err := b.s.History(b.ctx, c.Step.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if last := h.Steps[len(h.Steps)-1]; !strings.Contains(string(last.Metadata), "diagnosed") {
		t.Fatalf("the step's move %+v, want the cause as its metadata", last)
	}
}

// A rescue given a DeadlineCause fails the unfinished tasks past their
// deadline, claimed or not, with it as their last error and their move's
// metadata; a task before its deadline, one without, and one finished are
// left alone, and without a cause nothing is looked for.
func testRescueFailsOverdueTasks(t *testing.T, b *bundle) {
	withDeadline := func(d time.Duration) int64 {
		p := b.params(chain("x"))
		p.Deadline = d
		res, err := b.s.CreateTask(b.ctx, p)
		if err != nil {
			t.Fatalf("CreateTask: %v", err)
		}
		return res.Task.ID
	}
	pending := withDeadline(time.Minute)
	running := withDeadline(time.Minute)
	later := withDeadline(time.Hour)
	none := b.create(t, chain("x")).Task.ID
	c := b.claim(t, 10) // every first step: running's task in progress
	var done int64
	for _, cl := range c {
		if cl.Step.TaskID == pending {
			b.finish(t, store.StepOutcome{Lease: cl.Step.Lease(), Kind: store.OutcomeRetry, RetryAfter: time.Hour, Error: store.JSON(`{"error":"later"}`)})
		}
		if cl.Step.TaskID == none {
			done = none
			b.finish(t, store.StepOutcome{Lease: cl.Step.Lease(), Kind: store.OutcomeComplete, Results: store.JSON(`1`)})
		}
	}
	at := b.now.Add(10 * time.Minute) // past two deadlines, before the leases expire
	res, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: at})
	if err != nil || res.TimedOut != 0 {
		t.Fatalf("rescue without a cause: %+v, %v; want no task timed out", res, err)
	}
	cause := store.JSON(`{"kind":"workflow_timeout","message":"past its deadline"}`)
	res, err = b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: at, DeadlineCause: cause})
	if err != nil {
		t.Fatal(err)
	}
	if res.TimedOut != 2 || res.Rescued != 0 || len(res.Tasks) != 2 {
		t.Fatalf("rescue %+v, want the two tasks past their deadline failed", res)
	}
	if len(res.FailedTasks) != 2 || res.FailedTasks[0].ID != min(pending, running) || res.FailedTasks[1].ID != max(pending, running) ||
		!strings.Contains(string(res.FailedTasks[1].LastError), "past its deadline") {
		t.Fatalf("rescue's failed tasks %+v, want tasks %d and %d with the cause", res.FailedTasks, pending, running)
	}
	for _, id := range []int64{pending, running} {
		d := b.get(t, id)
		if d.Task.State != store.TaskError || string(d.Task.LastError) == "" || !strings.Contains(string(d.Task.LastError), "past its deadline") {
			t.Fatalf("task %d: %s, last error %s; want error with the cause", id, d.Task.State, d.Task.LastError)
		}
		h, err := b.s.History(b.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if last := h.Task[len(h.Task)-1]; last.ToState != string(store.TaskError) || !strings.Contains(string(last.Metadata), "past its deadline") {
			t.Fatalf("task %d's last move %+v, want to error with the cause", id, last)
		}
	}
	for _, id := range []int64{later, done} {
		if d := b.get(t, id); d.Task.State == store.TaskError {
			t.Fatalf("task %d failed, want it left alone", id)
		}
	}
	if res, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: at, DeadlineCause: cause}); err != nil || res.TimedOut != 0 {
		t.Fatalf("second rescue %+v, %v; want nothing more", res, err)
	}
	_, err = b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: at, DeadlineCause: store.JSON(`{"kind":`)})
	wantErr(t, err, store.ErrInvalid, "deadline_cause")
}

// A commit whose fields contradict each other is refused, naming the
// field, and records nothing: wake-ups on an outcome that does not
// suspend, a wake-up on an event no one can send. Each was dropped and
// the rest committed.
func testFinishStepsContradictions(t *testing.T, b *bundle) {
	b.create(t, chain("x"))
	c := b.claimOne(t, "x")
	suspend := store.StepOutcome{Lease: c.Step.Lease(), Kind: store.OutcomeSuspend, RetryAfter: time.Hour}
	cases := []struct {
		p    store.FinishStepsParams
		want []string
	}{
		{store.FinishStepsParams{Outcomes: []store.StepOutcome{func() store.StepOutcome {
			o := complete(c, `{}`)
			o.WakeOnEvents = []string{"go"}
			return o
		}()}}, []string{"outcomes[0].wake_on_events", "suspend"}},
		{store.FinishStepsParams{Outcomes: []store.StepOutcome{func() store.StepOutcome {
			o := complete(c, `{}`)
			o.WakeOnTasks = []int64{1}
			return o
		}()}}, []string{"outcomes[0].wake_on_tasks", "suspend"}},
		{store.FinishStepsParams{Outcomes: []store.StepOutcome{func() store.StepOutcome {
			o := suspend
			o.WakeOnEvents = []string{"go", ""}
			return o
		}()}}, []string{"outcomes[0].wake_on_events[1]", "required"}},
	}
	for _, tc := range cases {
		tc.p.Now = b.now
		res, err := b.s.FinishSteps(b.ctx, &tc.p)
		wantErr(t, err, store.ErrInvalid, tc.want...)
		if res != nil {
			t.Fatalf("refused commit reported %+v", res)
		}
	}
	if s := stepState(t, b, c.Step.ID); s != store.StepInProgress {
		t.Fatalf("refused commits moved the step to %s", s)
	}
}
