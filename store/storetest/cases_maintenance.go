package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// finishedAt brings a new task to a finished state at the given time (so
// its completed_at is exactly that time) and returns its detail. The store
// must hold no other ready step.
func finishedAt(t *testing.T, b *bundle, state store.TaskState, at time.Time, steps []store.NewStep) *store.TaskDetail {
	t.Helper()
	saved := b.now
	defer func() { b.now = saved }()
	b.now = at
	d := b.create(t, steps)
	move := func(from, to store.TaskState) {
		t.Helper()
		if _, err := b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: d.Task.ID, From: from, To: to, Now: at}); err != nil {
			t.Fatalf("bringing task to %s: %v", to, err)
		}
	}
	switch state {
	case store.TaskComplete:
		for range steps {
			b.finish(t, complete(b.claim(t, 1)[0], `{"ok":true}`))
		}
	case store.TaskCancelled:
		if _, err := b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: d.Task.ID, Now: at}); err != nil {
			t.Fatal(err)
		}
	case store.TaskResolvedManually:
		move(store.TaskPending, store.TaskError)
		move(store.TaskError, store.TaskResolvedManually)
	case store.TaskError:
		move(store.TaskPending, store.TaskError)
	default:
		t.Fatalf("finishedAt: unsupported state %s", state)
	}
	got := b.get(t, d.Task.ID)
	if got.Task.State != state {
		t.Fatalf("task in %s, want %s", got.Task.State, state)
	}
	return got
}

func testDeleteFinished(t *testing.T, b *bundle) {
	base := b.now.Add(-time.Hour)
	minute := func(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }

	// Five finished tasks, oldest first; the first has a chain of steps,
	// transitions and events so the cascade has something to remove.
	old := []*store.TaskDetail{finishedAt(t, b, store.TaskComplete, minute(1), chain("a", "b", "c"))}
	if _, _, err := b.s.SendEvent(b.ctx, &store.SendEventParams{TaskID: old[0].Task.ID, Name: "ev", Payload: store.JSON(`{}`)}); err != nil {
		t.Fatal(err)
	}
	old = append(old,
		finishedAt(t, b, store.TaskCancelled, minute(2), chain("x")),
		finishedAt(t, b, store.TaskResolvedManually, minute(3), chain("x")),
		finishedAt(t, b, store.TaskComplete, minute(4), chain("x")),
		finishedAt(t, b, store.TaskComplete, minute(5), chain("x")),
	)
	// Kept: finished after the cutoff, failed (an operator's to decide),
	// still running, and a child (finished after the cutoff: a running
	// one keeps its parent, see testDeleteFinishedKeepsParents) of a
	// deleted parent.
	recent := finishedAt(t, b, store.TaskComplete, minute(45), chain("x"))
	failed := finishedAt(t, b, store.TaskError, minute(1), chain("x"))
	b.parent = old[4].Task.ID
	child := finishedAt(t, b, store.TaskComplete, minute(45), chain("x"))
	b.parent = 0
	live := b.create(t, chain("x"))

	_, err := b.s.DeleteFinished(b.ctx, &store.DeleteFinishedParams{Before: minute(30), Limit: 2})
	wantErr(t, err, store.ErrInvalid, "now")

	cutoff := minute(30)
	del := func(limit int) int {
		t.Helper()
		n, err := b.s.DeleteFinished(b.ctx, &store.DeleteFinishedParams{Before: cutoff, Now: b.now, Limit: limit})
		if err != nil {
			t.Fatalf("DeleteFinished: %v", err)
		}
		return n
	}
	exists := func(d *store.TaskDetail) bool {
		t.Helper()
		_, err := b.s.GetTask(b.ctx, d.Task.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	if n := del(2); n != 2 {
		t.Fatalf("first batch deleted %d, want 2", n)
	}
	if exists(old[0]) || exists(old[1]) || !exists(old[2]) {
		t.Fatal("first batch did not take the two oldest")
	}
	if n := del(2); n != 2 {
		t.Fatalf("second batch deleted %d, want 2", n)
	}
	if n := del(2); n != 1 {
		t.Fatalf("last batch deleted %d, want 1 (fewer than the limit: done)", n)
	}
	if n := del(0); n != 0 {
		t.Fatalf("nothing left to delete, deleted %d", n)
	}
	for _, d := range old {
		if exists(d) {
			t.Fatalf("task %d (%s) survived", d.Task.ID, d.Task.State)
		}
	}
	for _, d := range []*store.TaskDetail{recent, failed, live} {
		if !exists(d) {
			t.Fatalf("task %d (%s) was deleted", d.Task.ID, d.Task.State)
		}
	}
	orphan := b.get(t, child.Task.ID).Task
	if orphan.ParentID != nil {
		t.Fatalf("child of a deleted task keeps parent %d", *orphan.ParentID)
	}

	// Nothing of the deleted tasks remains in any table.
	first := old[0]
	if _, err := b.s.GetStep(b.ctx, first.Steps[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("step of a deleted task: %v", err)
	}
	if _, err := b.s.History(b.ctx, first.Task.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("history of a deleted task: %v", err)
	}
	for _, table := range []string{"tasker_steps", "tasker_step_edges", "tasker_task_transitions", "tasker_step_transitions", "tasker_events"} {
		var n []int
		if err := b.s.DB().NewRaw(fmt.Sprintf("SELECT count(*) FROM %s WHERE task_id = ?", table), first.Task.ID).Scan(b.ctx, &n); err != nil {
			t.Fatal(err)
		}
		if n[0] != 0 {
			t.Fatalf("%d rows of the deleted task remain in %s", n[0], table)
		}
	}
	if tasks, steps := b.totals(t); tasks != 4 || steps != 4 {
		t.Fatalf("%d tasks and %d steps remain, want 4 and 4", tasks, steps)
	}

	// Cleaners running at once share the work: each task is deleted once
	// and none is left behind.
	const more = 24
	for range more {
		d := b.create(t, chain("x"))
		if _, err := b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: d.Task.ID, Now: minute(10)}); err != nil {
			t.Fatal(err)
		}
	}
	var deleted atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				n, err := b.s.DeleteFinished(b.ctx, &store.DeleteFinishedParams{Before: cutoff, Now: b.now, Limit: 4})
				if err != nil {
					t.Errorf("concurrent DeleteFinished: %v", err)
					return
				}
				deleted.Add(int64(n))
				if n < 4 {
					return
				}
			}
		})
	}
	wg.Wait()
	if n := deleted.Load(); n != more {
		t.Fatalf("concurrent cleaners deleted %d tasks, want %d", n, more)
	}
	if tasks, _ := b.totals(t); tasks != 4 {
		t.Fatalf("%d tasks remain after concurrent cleaning, want 4", tasks)
	}
}

// testDeleteFinishedOwnRetention: a task created with a retention of its
// own is deleted by it, not by the default (Before); KeepForever never;
// a bad retention is refused, and one batch's limit spans retentions.
func testDeleteFinishedOwnRetention(t *testing.T, b *bundle) {
	p := b.params(chain("x"))
	p.Retention = -2 * time.Second
	_, err := b.s.CreateTask(b.ctx, p)
	wantErr(t, err, store.ErrInvalid, "retention")
	p.Retention = time.Microsecond
	_, err = b.s.CreateTask(b.ctx, p)
	wantErr(t, err, store.ErrInvalid, "retention")

	// All finished an hour ago.
	at := b.now.Add(-time.Hour)
	made := map[string][]*store.TaskDetail{}
	for _, c := range []struct {
		name string
		keep time.Duration
	}{{"default", 0}, {"10m", 10 * time.Minute}, {"2h", 2 * time.Hour}, {"forever", store.KeepForever}} {
		b.retention = c.keep
		for range 2 {
			made[c.name] = append(made[c.name], finishedAt(t, b, store.TaskComplete, at, chain("x")))
		}
	}
	b.retention = 0
	if got := made["10m"][0].Task.RetentionMS; got != 600_000 {
		t.Fatalf("retention read back as %d ms, want 600000", got)
	}
	if got := made["forever"][0].Task.RetentionMS; got != -1 {
		t.Fatalf("keep forever read back as %d, want -1", got)
	}
	if got := made["default"][0].Task.RetentionMS; got != 0 {
		t.Fatalf("the default retention read back as %d, want 0", got)
	}
	left := func() map[string]int {
		t.Helper()
		out := map[string]int{}
		for name, ds := range made {
			for _, d := range ds {
				_, err := b.s.GetTask(b.ctx, d.Task.ID)
				if err == nil {
					out[name]++
				} else if !errors.Is(err, store.ErrNotFound) {
					t.Fatal(err)
				}
			}
		}
		return out
	}
	del := func(p store.DeleteFinishedParams) int {
		t.Helper()
		n, err := b.s.DeleteFinished(b.ctx, &p)
		if err != nil {
			t.Fatalf("DeleteFinished: %v", err)
		}
		return n
	}
	// No default (Before zero: the default keeps): only the 10-minute
	// tasks are due.
	if n := del(store.DeleteFinishedParams{Now: b.now}); n != 2 {
		t.Fatalf("deleted %d, want the two 10m tasks", n)
	}
	if l := left(); l["10m"] != 0 || l["default"] != 2 || l["2h"] != 2 || l["forever"] != 2 {
		t.Fatalf("left %v", l)
	}
	// Three hours on, with a default of 30 minutes: the default's two and
	// the 2h two are due, four in all; a limit of 3 takes three of them,
	// the next batch the last.
	later := store.DeleteFinishedParams{Now: b.now.Add(3 * time.Hour), Before: b.now.Add(-30 * time.Minute), Limit: 3}
	if n := del(later); n != 3 {
		t.Fatalf("first batch deleted %d, want 3 (the limit)", n)
	}
	if n := del(later); n != 1 {
		t.Fatalf("second batch deleted %d, want 1", n)
	}
	if l := left(); l["default"] != 0 || l["2h"] != 0 || l["forever"] != 2 {
		t.Fatalf("left %v", l)
	}
	// A year on, with any default: kept forever is kept.
	if n := del(store.DeleteFinishedParams{Now: b.now.Add(365 * 24 * time.Hour), Before: b.now}); n != 0 {
		t.Fatalf("deleted %d tasks kept forever", n)
	}
}

func testLeaderElection(t *testing.T, b *bundle) {
	const ttl = 10 * time.Second
	at := func(s int) time.Time { return b.now.Add(time.Duration(s) * time.Second) }
	elect := func(name, owner string, now time.Time) bool {
		t.Helper()
		ok, err := b.s.Elect(b.ctx, &store.ElectParams{Name: name, Owner: owner, TTL: ttl, Now: now})
		if err != nil {
			t.Fatalf("Elect(%s, %s): %v", name, owner, err)
		}
		return ok
	}
	resign := func(name, owner string) {
		t.Helper()
		if err := b.s.Resign(b.ctx, name, owner); err != nil {
			t.Fatalf("Resign(%s, %s): %v", name, owner, err)
		}
	}
	steps := []struct {
		owner string
		at    int
		want  bool
		why   string
	}{
		{"a", 0, true, "a free leadership is taken"},
		{"b", 1, false, "a live lease is not taken over"},
		{"a", 5, true, "the leader renews (lease until 15 s)"},
		{"b", 12, false, "the renewed lease is still live"},
		{"b", 16, true, "an expired lease is taken over"},
		{"a", 17, false, "the old leader has lost it"},
	}
	for _, s := range steps {
		if got := elect("maint", s.owner, at(s.at)); got != s.want {
			t.Fatalf("%s at %ds: leads = %v; %s", s.owner, s.at, got, s.why)
		}
	}
	if !elect("other", "a", at(17)) {
		t.Fatal("leaderships of different names are independent")
	}
	// What Elect refuses no leadership has: Resign refuses it too, naming
	// it (a NUL byte or invalid UTF-8 reached the SQL, a driver error).
	for _, c := range []struct{ name, owner, want string }{
		{"", "a", "name: is required"}, {"maint", "", "owner: is required"},
		{"ma\x00int", "a", "name: contains a NUL byte"}, {"maint", "\xffa", "owner: is not valid UTF-8"},
	} {
		err := b.s.Resign(b.ctx, c.name, c.owner)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "resigning leadership: "+c.want) {
			t.Fatalf("Resign(%q, %q) = %v; want ErrInvalid saying %s", c.name, c.owner, err, c.want)
		}
	}
	resign("maint", "a") // not the leader: nothing changes
	if elect("maint", "c", at(18)) {
		t.Fatal("a resignation by a non-leader freed the leadership")
	}
	resign("maint", "b")
	if !elect("maint", "c", at(18)) {
		t.Fatal("the leadership is not free right after its leader resigned")
	}

	// Many candidates at once: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			ok, err := b.s.Elect(b.ctx, &store.ElectParams{Name: "race", Owner: fmt.Sprintf("w%d", i), TTL: ttl, Now: b.now})
			if err != nil {
				t.Errorf("Elect: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d concurrent candidates won, want 1", n)
	}

	_, err := b.s.Elect(b.ctx, &store.ElectParams{Name: "maint", Owner: "", TTL: 0})
	wantErr(t, err, store.ErrInvalid, "owner", "ttl")
}

// testDeleteFinishedKeepsChildren: a finished child whose parent is
// pending or in error (an operator may retry it) is kept, as its parent
// reads its outcome when it resumes; once the parent has finished, the
// child goes with the others.
func testDeleteFinishedKeepsChildren(t *testing.T, b *bundle) {
	at := b.now.Add(-time.Hour)
	later := []store.NewStep{{Name: "x", Handler: "h.x", Retryable: true, NotBefore: b.now.Add(24 * time.Hour)}}
	done := finishedAt(t, b, store.TaskComplete, at, chain("x"))
	waiting := b.create(t, later)
	failed := finishedAt(t, b, store.TaskError, at, later)
	// The waiting parent's child last: finishing it wakes the parent's
	// step, which the next finishedAt would claim.
	children := map[string]*store.TaskDetail{}
	for _, c := range []struct {
		name   string
		parent int64
	}{{"of done", done.Task.ID}, {"of failed", failed.Task.ID}, {"of waiting", waiting.Task.ID}} {
		b.parent = c.parent
		children[c.name] = finishedAt(t, b, store.TaskComplete, at, chain("c"))
	}
	b.parent = 0
	left := func() map[string]bool {
		t.Helper()
		out := map[string]bool{}
		for name, d := range children {
			_, err := b.s.GetTask(b.ctx, d.Task.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			out[name] = err == nil
		}
		return out
	}
	n, err := b.s.DeleteFinished(b.ctx, &store.DeleteFinishedParams{Before: b.now, Now: b.now})
	if err != nil {
		t.Fatal(err)
	}
	if l := left(); n != 2 || l["of done"] || !l["of waiting"] || !l["of failed"] {
		t.Fatalf("deleted %d, left %v; want the finished parent and its child deleted, the other children kept", n, l)
	}
	if _, err := b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: waiting.Task.ID, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	n, err = b.s.DeleteFinished(b.ctx, &store.DeleteFinishedParams{Before: b.now.Add(time.Minute), Now: b.now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if l := left(); n != 2 || l["of waiting"] || !l["of failed"] {
		t.Fatalf("after its parent was cancelled: deleted %d, left %v; want the parent and its child deleted", n, l)
	}
}

// testDeleteFinishedKeepsParents: a finished parent with an unfinished
// child is kept past its retention while the child runs: deleted, it
// would set the child's parent_id to NULL, and the child, no one's any
// more, would escape ListOrphans (and the sweep that cancels it) for
// good. Once the child has finished, both go.
func testDeleteFinishedKeepsParents(t *testing.T, b *bundle) {
	later := []store.NewStep{{Name: "x", Handler: "h.x", Retryable: true, NotBefore: b.now.Add(24 * time.Hour)}}
	parent := finishedAt(t, b, store.TaskCancelled, b.now.Add(-time.Hour), later)
	b.parent = parent.Task.ID
	child := b.create(t, later)
	b.parent = 0
	n, err := b.s.DeleteFinished(b.ctx, &store.DeleteFinishedParams{Before: b.now, Now: b.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, gerr := b.s.GetTask(b.ctx, parent.Task.ID); n != 0 || gerr != nil {
		t.Fatalf("deleted %d, the parent: %v; want the parent of a running child kept", n, gerr)
	}
	if got, err := b.s.ListOrphans(b.ctx, &store.ListOrphansParams{Limit: 10}); err != nil || len(got) != 1 || got[0].ID != child.Task.ID {
		t.Fatalf("ListOrphans = %v, %v; want the child", got, err)
	}
	if _, err := b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: child.Task.ID, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	if n, err = b.s.DeleteFinished(b.ctx, &store.DeleteFinishedParams{Before: b.now.Add(time.Minute), Now: b.now.Add(time.Minute)}); err != nil || n != 2 {
		t.Fatalf("once the child finished: deleted %d, %v; want the parent and the child", n, err)
	}
}

// ListOrphans finds the unfinished children of parents that ended for
// good (complete, cancelled, resolved by hand), lowest id first and up to
// its limit, and no other task: not a finished child, not the child of a
// parent that runs or is in error (it may be retried, and read it).
func testListOrphans(t *testing.T, b *bundle) {
	later := []store.NewStep{{Name: "x", Handler: "h.x", Retryable: true, NotBefore: b.now.Add(24 * time.Hour)}}
	done := finishedAt(t, b, store.TaskComplete, b.now, chain("x"))
	failed := finishedAt(t, b, store.TaskError, b.now, later)
	cancelled := finishedAt(t, b, store.TaskCancelled, b.now, later)
	resolved := finishedAt(t, b, store.TaskResolvedManually, b.now, later)
	running := b.create(t, later)
	child := func(parent int64, state store.TaskState) int64 {
		t.Helper()
		b.parent = parent
		defer func() { b.parent = 0 }()
		d := b.create(t, later)
		if state != store.TaskPending {
			if _, err := b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: d.Task.ID, From: store.TaskPending, To: state, Now: b.now}); err != nil {
				t.Fatalf("bringing child to %s: %v", state, err)
			}
		}
		return d.Task.ID
	}
	child(failed.Task.ID, store.TaskPending) // its parent may be retried
	child(failed.Task.ID, store.TaskInProgress)
	want := []store.Orphan{
		{ID: child(done.Task.ID, store.TaskPending), ParentID: done.Task.ID, ParentState: store.TaskComplete},
		{ID: child(done.Task.ID, store.TaskInProgress), ParentID: done.Task.ID, ParentState: store.TaskComplete},
		{ID: child(cancelled.Task.ID, store.TaskPending), ParentID: cancelled.Task.ID, ParentState: store.TaskCancelled},
		{ID: child(resolved.Task.ID, store.TaskInProgress), ParentID: resolved.Task.ID, ParentState: store.TaskResolvedManually},
	}
	child(cancelled.Task.ID, store.TaskError) // failed: kept for the record
	child(running.Task.ID, store.TaskPending)
	child(running.Task.ID, store.TaskInProgress)

	got, err := b.s.ListOrphans(b.ctx, &store.ListOrphansParams{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListOrphans = %v, want %v", got, want)
	}
	if got, err = b.s.ListOrphans(b.ctx, &store.ListOrphansParams{Limit: 3}); err != nil || fmt.Sprint(got) != fmt.Sprint(want[:3]) {
		t.Fatalf("ListOrphans(limit 3) = %v, %v; want %v", got, err, want[:3])
	}
	// The next page: after the last listed (the first may be one whose
	// cancel failed, and would come first again).
	if got, err = b.s.ListOrphans(b.ctx, &store.ListOrphansParams{After: want[1].ID, Limit: 10}); err != nil || fmt.Sprint(got) != fmt.Sprint(want[2:]) {
		t.Fatalf("ListOrphans(after %d) = %v, %v; want %v", want[1].ID, got, err, want[2:])
	}
	if _, err := b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: want[0].ID, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	if got, err = b.s.ListOrphans(b.ctx, &store.ListOrphansParams{Limit: 10}); err != nil || fmt.Sprint(got) != fmt.Sprint(want[1:]) {
		t.Fatalf("after cancelling the first: ListOrphans = %v, %v; want %v", got, err, want[1:])
	}
	for _, bad := range []struct {
		p     *store.ListOrphansParams
		field string
	}{{nil, "params"}, {&store.ListOrphansParams{}, "limit"}, {&store.ListOrphansParams{Limit: -1}, "limit"}, {&store.ListOrphansParams{After: -1, Limit: 1}, "after"}} {
		if _, err := b.s.ListOrphans(b.ctx, bad.p); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("ListOrphans(%+v): %v, want ErrInvalid naming the %s", bad.p, err, bad.field)
		}
	}
}
