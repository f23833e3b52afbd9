package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testStartLease: a start's Lease claims the new task's ready steps in the
// creating transaction — only those a claim could take (no dependencies,
// no not-before, no concurrency group or rate limit, a handler it names),
// at most Limit — and what it claimed is recorded exactly as a claim.
func testStartLease(t *testing.T, b *bundle) {
	lease := &store.StartLease{Owner: "eager-1", TTL: time.Minute, Limit: 2, Handlers: []string{"h.a", "h.b", "h.c", "h.late", "h.x"}}
	steps := []store.NewStep{
		{Name: "a", Handler: "h.a", Retryable: true},
		{Name: "b", Handler: "h.b", Retryable: true},
		{Name: "c", Handler: "h.c", Retryable: true}, // over the limit
		{Name: "late", Handler: "h.late", NotBefore: b.now.Add(time.Hour)},
		{Name: "other", Handler: "h.other"}, // a handler the lease does not name
		{Name: "x", Handler: "h.x", DependsOn: []string{"a"}},
	}
	p := b.params(steps)
	p.Lease = lease
	dup := *p // the same identity again in the same call: one task, claimed once
	items, err := b.s.CreateTasks(b.ctx, []*store.CreateTaskParams{p, &dup})
	if err != nil || items[0].Err != nil || items[1].Err != nil {
		t.Fatalf("CreateTasks: %v / %v / %v", err, items[0].Err, items[1].Err)
	}
	res := items[0]
	if res.Existing || res.Task.State != store.TaskInProgress || !items[1].Existing || len(items[1].Claimed) != 0 {
		t.Fatalf("first item: existing %v state %s; second: existing %v claimed %d", res.Existing, res.Task.State, items[1].Existing, len(items[1].Claimed))
	}
	if got := names(res.Claimed); strings.Join(got, ",") != "a,b" {
		t.Fatalf("claimed %v, want a,b", got)
	}
	for _, c := range res.Claimed {
		if c.Task == nil || c.Task.ID != res.Task.ID || len(c.Deps) != 0 || c.Step.ID == 0 || c.Step.LeaseToken == nil || c.Step.Attempts != 1 {
			t.Fatalf("claimed step %s: %+v", c.Step.Name, c.Step)
		}
	}
	d := b.get(t, res.Task.ID)
	if d.Task.State != store.TaskInProgress {
		t.Fatalf("stored task is %s", d.Task.State)
	}
	for _, s := range d.Steps {
		want, attempts := store.StepPending, 0
		if s.Name == "a" || s.Name == "b" {
			want, attempts = store.StepInProgress, 1
		}
		if s.State != want || s.Attempts != attempts {
			t.Fatalf("step %s is %s with %d attempts, want %s with %d", s.Name, s.State, s.Attempts, want, attempts)
		}
		if want == store.StepInProgress && (s.LeaseOwner == nil || *s.LeaseOwner != "eager-1" || s.LeaseExpiresAt == nil || s.StartedAt == nil) {
			t.Fatalf("step %s lease: owner %v expires %v started %v", s.Name, s.LeaseOwner, s.LeaseExpiresAt, s.StartedAt)
		}
	}
	// A claim finds only what the lease left: c (other's handler is not served).
	got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Minute, Handlers: []string{"h.a", "h.b", "h.c", "h.x"}, Now: b.now})
	if err != nil || strings.Join(names(got), ",") != "c" {
		t.Fatalf("claim after the lease: %v, %v", names(got), err)
	}
	// The leases are real: completing a unblocks x; history reads like a claim.
	var a *store.ClaimedStep
	for _, c := range res.Claimed {
		if c.Step.Name == "a" {
			a = c
		}
	}
	fr := b.finish(t, complete(a, `{"ok":true}`))
	if fr.Steps[0].Err != nil {
		t.Fatalf("finishing a leased step: %v", fr.Steps[0].Err)
	}
	h, err := b.s.History(b.ctx, res.Task.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The task starts in_progress: one transition from no state, never
	// pending (no pending → in_progress row beside it).
	var taskPath []string
	for _, tr := range h.Task {
		from := "∅"
		if tr.FromState != nil {
			from = *tr.FromState
		}
		taskPath = append(taskPath, fmt.Sprintf("%s→%s#%d", from, tr.ToState, tr.SortKey))
	}
	if strings.Join(taskPath, " ") != "∅→in_progress#1" || !h.Task[0].MostRecent {
		t.Fatalf("task path = %v (want ∅→in_progress#1, the current one)", taskPath)
	}
	var aPath []string
	for _, tr := range h.Steps {
		if tr.StepID == a.Step.ID {
			aPath = append(aPath, *tr.FromState+"→"+tr.ToState)
		}
	}
	if strings.Join(aPath, " ") != "pending→in_progress in_progress→complete" {
		t.Fatalf("step a path = %v", aPath)
	}
	// A repeated start finds the task and claims nothing; a bad lease is
	// refused and writes nothing.
	again := *p
	r2, err := b.s.CreateTask(b.ctx, &again)
	if err != nil || !r2.Existing || len(r2.Claimed) != 0 {
		t.Fatalf("repeated start: %+v, %v", r2, err)
	}
	tasks, stepsBefore := b.totals(t)
	bad := b.params(chain("a"))
	bad.Lease = &store.StartLease{Owner: "", TTL: 0, Limit: -1}
	_, err = b.s.CreateTask(b.ctx, bad)
	var ve *store.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "lease.owner") || !strings.Contains(err.Error(), "lease.ttl") || !strings.Contains(err.Error(), "lease.limit") {
		t.Fatalf("bad lease: %v", err)
	}
	if n, s := b.totals(t); n != tasks || s != stepsBefore {
		t.Fatalf("a refused start wrote rows: tasks %d→%d, steps %d→%d", tasks, n, stepsBefore, s)
	}
	// A concurrency group or a limit of 0 claims nothing: the task stays pending.
	grouped := b.params(chain("a"))
	grouped.ConcGroup, grouped.ConcMax = "g-lease", 1
	grouped.Lease = lease
	zero := b.params(chain("a"))
	zero.Lease = &store.StartLease{Owner: "eager-1", TTL: time.Minute, Handlers: []string{"h.a"}}
	for _, q := range []*store.CreateTaskParams{grouped, zero} {
		r, err := b.s.CreateTask(b.ctx, q)
		if err != nil || len(r.Claimed) != 0 || r.Task.State != store.TaskPending {
			t.Fatalf("start that should claim nothing: %+v, %v", r, err)
		}
	}
}

// testClaimedDeps: a claimed step sees each dependency's results as
// stored — a JSON null result is "null", a resolution without results an
// empty object, a document the document — whatever the dialect.
func testClaimedDeps(t *testing.T, b *bundle) {
	d := b.create(t, []store.NewStep{
		{Name: "a", Handler: "h.a"}, {Name: "n", Handler: "h.n"},
		{Name: "r", Handler: "h.r", RetryLimit: 1},
		{Name: "z", Handler: "h.z", DependsOn: []string{"a", "n", "r"}},
	})
	byName := map[string]*store.ClaimedStep{}
	for _, c := range b.claim(t, 10) {
		byName[c.Step.Name] = c
	}
	b.finish(t, complete(byName["a"], `{"x": [1, 2.5, "é"]}`), complete(byName["n"], `null`),
		store.StepOutcome{Lease: byName["r"].Step.Lease(), Kind: store.OutcomeFail, Error: store.JSON(`{"error":"x"}`)})
	if _, err := b.s.ResolveStep(b.ctx, &store.ResolveStepParams{StepID: byName["r"].Step.ID}); err != nil {
		t.Fatal(err)
	}
	z := b.claimOne(t, "z")
	if z.Task == nil || z.Task.ID != d.Task.ID || string(z.Task.Context) == "" {
		t.Fatalf("claimed step's task: %+v", z.Task)
	}
	var a struct{ X []any }
	if err := z.Deps["a"].Decode(&a); err != nil || len(a.X) != 3 || a.X[2] != "é" {
		t.Fatalf("a's results %s (%v)", z.Deps["a"], err)
	}
	if got := string(z.Deps["n"]); got != "null" {
		t.Fatalf("n's results = %q, want null", got)
	}
	var r map[string]any
	if err := z.Deps["r"].Decode(&r); err != nil || r == nil || len(r) != 0 {
		t.Fatalf("r's results = %q (%v), want an empty object", z.Deps["r"], err)
	}
	if len(z.Deps) != 3 {
		t.Fatalf("deps %v", z.Deps)
	}
}
