package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// testAdminTokens: a token is stored by its hash, found by it, listed,
// counted while not revoked, revoked once; bad input, a hash already
// stored or the name of a token not revoked is refused naming it and
// writes nothing; a revoked token's name can be used again.
func testAdminTokens(t *testing.T, b *bundle) {
	if n, err := b.s.CountAdminTokens(b.ctx); err != nil || n != 0 {
		t.Fatalf("a fresh store counts %d tokens (err %v)", n, err)
	}
	_, err := b.s.CreateAdminToken(b.ctx, &store.CreateAdminTokenParams{Name: "x", Role: "root", Hash: "abc", Now: b.now})
	wantErr(t, err, store.ErrInvalid, "role", "hash")
	if ts, _ := b.s.ListAdminTokens(b.ctx); len(ts) != 0 {
		t.Fatalf("a refused create wrote %d tokens", len(ts))
	}
	ci, err := b.s.CreateAdminToken(b.ctx, &store.CreateAdminTokenParams{Name: "ci", Role: store.RoleViewer, Hash: hashOf("s1"), Now: b.now})
	if err != nil {
		t.Fatal(err)
	}
	if ci.Name != "ci" || ci.Role != store.RoleViewer || ci.RevokedAt != nil || !ci.CreatedAt.Equal(b.now) {
		t.Fatalf("created %+v", ci)
	}
	ops, err := b.s.CreateAdminToken(b.ctx, &store.CreateAdminTokenParams{Name: "ops", Role: store.RoleOperator, Hash: hashOf("s2"), Now: b.now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.s.CreateAdminToken(b.ctx, &store.CreateAdminTokenParams{Name: "dup", Role: store.RoleAdmin, Hash: hashOf("s2"), Now: b.now})
	wantErr(t, err, store.ErrConflict)
	_, err = b.s.CreateAdminToken(b.ctx, &store.CreateAdminTokenParams{Name: "ops", Role: store.RoleAdmin, Hash: hashOf("s3"), Now: b.now})
	wantErr(t, err, store.ErrConflict, `"ops"`, "not revoked")
	if _, err := b.s.FindAdminToken(b.ctx, hashOf("s3")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a create refused for its name wrote the token (FindAdminToken: %v)", err)
	}
	got, err := b.s.FindAdminToken(b.ctx, hashOf("s2"))
	if err != nil || got.ID != ops.ID || got.Role != store.RoleOperator {
		t.Fatalf("FindAdminToken = %+v, %v; want token %d", got, err, ops.ID)
	}
	_, err = b.s.FindAdminToken(b.ctx, hashOf("nope"))
	wantErr(t, err, store.ErrNotFound)
	// A hash no token can have is refused, naming it (a NUL byte reached
	// the SQL, a driver error; an empty one was "not found").
	for _, h := range []string{"", "ab\x00cd", strings.ToUpper(hashOf("s2"))} {
		_, err = b.s.FindAdminToken(b.ctx, h)
		wantErr(t, err, store.ErrInvalid, "looking up an admin token: hash: want the 64 lower-case hex digits of a SHA-256")
	}
	if n, _ := b.s.CountAdminTokens(b.ctx); n != 2 {
		t.Fatalf("counted %d tokens, want 2", n)
	}
	later := b.now.Add(time.Minute)
	if err := b.s.RevokeAdminToken(b.ctx, ci.ID, later); err != nil {
		t.Fatal(err)
	}
	if err := b.s.RevokeAdminToken(b.ctx, ci.ID, later.Add(time.Hour)); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	wantErr(t, b.s.RevokeAdminToken(b.ctx, 999999, later), store.ErrNotFound, "999999")
	wantErr(t, b.s.RevokeAdminToken(b.ctx, 0, later), store.ErrInvalid, "id: must be a token id (1 or more), got 0")
	got, _ = b.s.FindAdminToken(b.ctx, hashOf("s1"))
	if got.RevokedAt == nil || !got.RevokedAt.Equal(later) {
		t.Fatalf("revoked token reads %+v, want revoked at %s (the first revocation)", got, later)
	}
	if n, _ := b.s.CountAdminTokens(b.ctx); n != 1 {
		t.Fatalf("counted %d tokens after a revocation, want 1", n)
	}
	ts, _ := b.s.ListAdminTokens(b.ctx)
	if len(ts) != 2 || ts[0].ID != ci.ID || ts[1].ID != ops.ID {
		t.Fatalf("listed %d tokens, want ci and ops in id order", len(ts))
	}
	// A revoked token's name is free again.
	ci2, err := b.s.CreateAdminToken(b.ctx, &store.CreateAdminTokenParams{Name: "ci", Role: store.RoleViewer, Hash: hashOf("s4"), Now: later})
	if err != nil || ci2.Name != "ci" || ci2.ID == ci.ID {
		t.Fatalf("creating ci again after revoking it: %+v, %v", ci2, err)
	}
}

// testQueueLags: ready steps are counted per queue with the earliest due
// time; steps waiting on a dependency, due later, or claimed are not.
func testQueueLags(t *testing.T, b *bundle) {
	mk := func(queue string, at time.Time, steps []store.NewStep) {
		t.Helper()
		p := b.params(steps)
		p.Queue, p.Now = queue, at
		if _, err := b.s.CreateTask(b.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	mk("default", b.now.Add(-time.Minute), chain("a", "b")) // a ready, b waits
	mk("default", b.now.Add(-time.Second), chain("x"))
	mk("mail", b.now.Add(-2*time.Minute), chain("m"))
	mk("later", b.now.Add(time.Hour), chain("l")) // not due yet
	lags, err := b.s.QueueLags(b.ctx, b.now)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.QueueLag{{Queue: "default", Ready: 2, OldestDueAt: b.now.Add(-time.Minute)}, {Queue: "mail", Ready: 1, OldestDueAt: b.now.Add(-2 * time.Minute)}}
	if len(lags) != len(want) {
		t.Fatalf("QueueLags = %+v, want %+v", lags, want)
	}
	for i := range want {
		if lags[i].Queue != want[i].Queue || lags[i].Ready != want[i].Ready || !lags[i].OldestDueAt.Equal(want[i].OldestDueAt) {
			t.Fatalf("QueueLags[%d] = %+v, want %+v", i, lags[i], want[i])
		}
	}
	if _, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Minute, Queues: []string{"mail"}, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	lags, _ = b.s.QueueLags(b.ctx, b.now)
	if len(lags) != 1 || lags[0].Queue != "default" {
		t.Fatalf("after claiming mail's step QueueLags = %+v, want default only", lags)
	}
}

// testQueueLagsOfFailedTasks: the ready steps of a task in error are not
// counted: no claim takes them (a claim skips a finished task), so they
// are not waiting for a worker, and the queue's oldest ready step would
// have aged for as long as the task stayed in error. A fan-out whose one
// branch failed left its other branch pending and ready.
func testQueueLagsOfFailedTasks(t *testing.T, b *bundle) {
	p := b.params([]store.NewStep{{Name: "a", Handler: "h.a", Retryable: true}, {Name: "b", Handler: "h.b", Retryable: true}})
	p.Queue, p.Now = "fan", b.now.Add(-time.Minute)
	d, err := b.s.CreateTask(b.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 1, LeaseTTL: time.Minute, Queues: []string{"fan"}, Now: b.now})
	if err != nil || len(got) != 1 {
		t.Fatalf("claiming one branch: %v, %v", names(got), err)
	}
	b.finish(t, store.StepOutcome{Lease: got[0].Step.Lease(), Kind: store.OutcomeFail, Error: store.JSON(`{"error":"no"}`)})
	if task := b.get(t, d.Task.ID).Task; task.State != store.TaskError {
		t.Fatalf("the task is %s after its branch failed, want error", task.State)
	}
	if again, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 1, LeaseTTL: time.Minute, Queues: []string{"fan"}, Now: b.now}); err != nil || len(again) != 0 {
		t.Fatalf("claimed %v (%v) of a failed task", names(again), err)
	}
	lags, err := b.s.QueueLags(b.ctx, b.now)
	if err != nil {
		t.Fatal(err)
	}
	if len(lags) != 0 {
		t.Fatalf("QueueLags = %+v with the only ready step's task in error, want none", lags)
	}
}

// testListFilters: ListTasks filters by queue and creation time.
func testListFilters(t *testing.T, b *bundle) {
	mk := func(queue string, at time.Time) int64 {
		t.Helper()
		p := b.params(chain("a"))
		p.Queue, p.Now = queue, at
		res, err := b.s.CreateTask(b.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return res.Task.ID
	}
	old := mk("mail", b.now.Add(-time.Hour))
	mid := mk("default", b.now.Add(-time.Minute))
	recent := mk("mail", b.now)
	ids := func(p *store.ListTasksParams) []int64 {
		t.Helper()
		page, err := b.s.ListTasks(b.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, x := range page.Tasks {
			out = append(out, x.ID)
		}
		return out
	}
	if got := ids(&store.ListTasksParams{Queue: "mail"}); len(got) != 2 || got[0] != recent || got[1] != old {
		t.Fatalf("queue mail lists %v, want [%d %d]", got, recent, old)
	}
	if got := ids(&store.ListTasksParams{CreatedAfter: b.now.Add(-2 * time.Minute), CreatedBefore: b.now}); len(got) != 1 || got[0] != mid {
		t.Fatalf("time range lists %v, want [%d]", got, mid)
	}
}

// testListByFailed: OrderByFailed lists the tasks in error by when they
// failed, the last first, not by when they were created (the overview's
// latest failures): a task retried and failed again is listed at its
// second failure, one retried and not failed since is not listed; the
// cursor pages on in that order, also once its task left error.
func testListByFailed(t *testing.T, b *bundle) {
	first, second, third, retried := b.create(t, chain("a")), b.create(t, chain("a")), b.create(t, chain("a")), b.create(t, chain("a"))
	b.create(t, chain("a")) // pending: not listed
	move := func(id int64, from, to store.TaskState, after time.Duration) {
		t.Helper()
		if _, err := b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: id, From: from, To: to, Now: b.now.Add(after)}); err != nil {
			t.Fatal(err)
		}
	}
	move(first.Task.ID, store.TaskPending, store.TaskError, time.Minute)
	move(second.Task.ID, store.TaskPending, store.TaskError, 2*time.Minute)
	move(retried.Task.ID, store.TaskPending, store.TaskError, 3*time.Minute)
	move(third.Task.ID, store.TaskPending, store.TaskError, 4*time.Minute)
	move(first.Task.ID, store.TaskError, store.TaskPending, 5*time.Minute)
	move(first.Task.ID, store.TaskPending, store.TaskError, 6*time.Minute)
	move(retried.Task.ID, store.TaskError, store.TaskPending, 7*time.Minute)
	list := func(before int64) *store.TaskPage {
		t.Helper()
		page, err := b.s.ListTasks(b.ctx, &store.ListTasksParams{Order: store.OrderByFailed, Limit: 2, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		return page
	}
	page := list(0)
	if len(page.Tasks) != 2 || page.Tasks[0].ID != first.Task.ID || page.Tasks[1].ID != third.Task.ID || page.NextCursor == 0 {
		t.Fatalf("first page by failure: %v; want tasks %d then %d, and a cursor", taskIDs(page), first.Task.ID, third.Task.ID)
	}
	// The page's last task retried meanwhile: the cursor still holds.
	move(third.Task.ID, store.TaskError, store.TaskPending, 8*time.Minute)
	if rest := list(page.NextCursor); len(rest.Tasks) != 1 || rest.Tasks[0].ID != second.Task.ID || rest.NextCursor != 0 {
		t.Fatalf("second page by failure: %v (cursor %d); want task %d alone", taskIDs(rest), rest.NextCursor, second.Task.ID)
	}
	other, err := b.s.ListTasks(b.ctx, &store.ListTasksParams{Order: store.OrderByFailed, Namespace: "other", CreatedAfter: b.now.Add(-time.Hour)})
	if err != nil || len(other.Tasks) != 0 {
		t.Fatalf("by failure in another namespace: %v, %v; want none", other, err)
	}
	_, err = b.s.ListTasks(b.ctx, &store.ListTasksParams{Order: "updated"})
	wantErr(t, err, store.ErrInvalid, "order", "updated")
}

func taskIDs(p *store.TaskPage) []int64 {
	var out []int64
	for _, x := range p.Tasks {
		out = append(out, x.ID)
	}
	return out
}

// testTaskActivity: creations, completions and failures are counted in the
// interval of their transitions; intervals with none are present and
// empty; transitions before the window are not counted.
func testTaskActivity(t *testing.T, b *bundle) {
	old := b.params(chain("old"))
	old.Now = b.now.Add(-time.Hour)
	if _, err := b.s.CreateTask(b.ctx, old); err != nil {
		t.Fatal(err)
	}
	done := b.create(t, chain("x"))
	failing := b.create(t, chain("y"))
	b.create(t, chain("z"))
	if _, err := b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: failing.Task.ID, From: store.TaskPending, To: store.TaskError, Now: b.now.Add(90 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 100, LeaseTTL: time.Minute, Now: b.now.Add(150 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		if c.Task.ID == done.Task.ID {
			if _, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{complete(c, `1`)}, Now: b.now.Add(150 * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	buckets, err := b.s.TaskActivity(b.ctx, &store.TaskActivityParams{Since: b.now, Width: time.Minute, Buckets: 4})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.ActivityBucket{{Start: b.now, Started: 3}, {Start: b.now.Add(time.Minute), Failed: 1}, {Start: b.now.Add(2 * time.Minute), Completed: 1}, {Start: b.now.Add(3 * time.Minute)}}
	if len(buckets) != len(want) {
		t.Fatalf("TaskActivity = %+v, want %+v", buckets, want)
	}
	for i := range want {
		if !buckets[i].Start.Equal(want[i].Start) || buckets[i].Started != want[i].Started || buckets[i].Completed != want[i].Completed || buckets[i].Failed != want[i].Failed {
			t.Fatalf("bucket %d = %+v, want %+v (all %+v)", i, buckets[i], want[i], buckets)
		}
	}
	later, err := b.s.TaskActivity(b.ctx, &store.TaskActivityParams{Since: b.now.Add(time.Hour), Width: time.Minute, Buckets: 2})
	if err != nil || len(later) != 2 || later[0].Started+later[1].Started+later[0].Completed+later[1].Completed != 0 {
		t.Fatalf("a window after every transition = %+v, %v; want two empty buckets", later, err)
	}
	_, err = b.s.TaskActivity(b.ctx, &store.TaskActivityParams{Width: -time.Minute, Buckets: 0})
	wantErr(t, err, store.ErrInvalid, "since", "width", "buckets")
	// A window too long for a time.Duration (it wrapped round to a
	// negative one, and every bucket read empty) is refused, naming it.
	_, err = b.s.TaskActivity(b.ctx, &store.TaskActivityParams{Since: b.now.Add(-time.Hour), Width: 100 * 365 * 24 * time.Hour, Buckets: 3})
	wantErr(t, err, store.ErrInvalid, "reading task activity: width: times buckets (3)")
}

// A listing's mistakes are refused, naming the field and its value,
// instead of listing something else: a negative limit (it listed the
// default 50), a negative cursor (it listed from the newest), a parent
// that no task can have, or a time range that is empty.
func testListTasksBadParams(t *testing.T, b *bundle) {
	b.create(t, chain("a"))
	zero := int64(0)
	cases := []struct {
		p    store.ListTasksParams
		want []string
	}{
		{store.ListTasksParams{Limit: -1}, []string{"limit", "-1"}},
		{store.ListTasksParams{Before: -5}, []string{"before", "-5"}},
		{store.ListTasksParams{ParentID: &zero}, []string{"parent_id", "0"}},
		{store.ListTasksParams{CreatedAfter: b.now, CreatedBefore: b.now}, []string{"created_before", b.now.Format(time.RFC3339Nano)}},
		{store.ListTasksParams{CreatedAfter: b.now, CreatedBefore: b.now.Add(-time.Hour)}, []string{"created_before"}},
		{store.ListTasksParams{Queue: "a\x00b"}, []string{"queue", "NUL"}},
		{store.ListTasksParams{States: []store.TaskState{"bogus"}}, []string{"states[0]", "bogus"}},
	}
	for _, c := range cases {
		page, err := b.s.ListTasks(b.ctx, &c.p)
		if page != nil {
			t.Errorf("%+v: listed %d tasks; want the call refused", c.p, len(page.Tasks))
		}
		wantErr(t, err, store.ErrInvalid, c.want...)
	}
}

// testCreatedWindowsExact: reads by creation time are exact whatever the
// order tasks were written in: a task stamped an hour before its
// neighbours (a host clock stepped back, a process with another clock)
// neither hides the window's tasks from a listing, a report or the
// activity chart, nor is counted in it.
func testCreatedWindowsExact(t *testing.T, b *bundle) {
	base := b.now
	ids := map[int]int64{}
	for i := 1; i <= 8; i++ {
		p := b.params(chain("s"))
		p.Now = base.Add(time.Duration(i) * time.Minute)
		if i == 5 {
			p.Now = base.Add(-time.Hour)
		}
		res, err := b.s.CreateTask(b.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = res.Task.ID
	}
	from, to := base.Add(150*time.Second), base.Add(270*time.Second) // tasks 3 and 4
	page, err := b.s.ListTasks(b.ctx, &store.ListTasksParams{CreatedAfter: from, CreatedBefore: to})
	if err != nil || len(page.Tasks) != 2 || page.Tasks[0].ID != ids[4] || page.Tasks[1].ID != ids[3] {
		t.Fatalf("tasks created in the window: %v, %v; want tasks %d and %d", page, err, ids[4], ids[3])
	}
	report, err := b.s.ReportData(b.ctx, &store.ReportParams{From: from, To: to})
	if err != nil || len(report.Counts) != 1 || report.Counts[0].Count != 2 || len(report.Tasks) != 2 {
		t.Fatalf("report of the window: %+v, %v; want its two tasks", report, err)
	}
	buckets, err := b.s.TaskActivity(b.ctx, &store.TaskActivityParams{Since: from, Width: to.Sub(from), Buckets: 1})
	if err != nil || len(buckets) != 1 || buckets[0].Started != 2 {
		t.Fatalf("activity of the window: %+v, %v; want 2 started", buckets, err)
	}
}
