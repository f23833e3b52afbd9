package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/uptrace/bun/dialect"

	"github.com/tasker-go/tasker/store"
)

// testCreateTasks: one CreateTasks call with valid items, an invalid one,
// identities repeated within the call and taken before it, and delayed
// steps beside ready ones.
func testCreateTasks(t *testing.T, b *bundle) {
	taken := b.params(chain("x"))
	if _, err := b.s.CreateTask(b.ctx, taken); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	sameAsTaken := *taken
	otherInput := *taken
	otherInput.InputHash = "other"

	diam := b.params(diamond())
	repeat := *diam // same identity and input within the call: the first item's task
	clash := *diam  // same identity, other input: a conflict
	clash.InputHash = "clash"
	delayed := b.params(chain("late", "later"))
	delayed.Steps[0].NotBefore = b.now.Add(time.Hour)
	bad := b.params(chain("y"))
	bad.Namespace = ""

	ps := []*store.CreateTaskParams{diam, &sameAsTaken, bad, &repeat, &otherInput, delayed, &clash, nil}
	items, err := b.s.CreateTasks(b.ctx, ps)
	if err != nil {
		t.Fatalf("CreateTasks: %v", err)
	}
	if len(items) != len(ps) {
		t.Fatalf("CreateTasks returned %d items for %d", len(items), len(ps))
	}
	ok := func(i int, existing bool) *store.Task {
		t.Helper()
		it := items[i]
		if it.Err != nil || it.Task == nil || it.Existing != existing {
			t.Fatalf("item %d = %+v (err %v), want a task with Existing=%v", i, it.CreateTaskResult, it.Err, existing)
		}
		return it.Task
	}
	d := ok(0, false)
	if got := ok(1, true); got.IdentityKey != taken.IdentityKey {
		t.Fatalf("item 1 is task %+v, want the one taken before", got)
	}
	wantErr(t, items[2].Err, store.ErrInvalid, "namespace")
	if r := ok(3, true); r.ID != d.ID {
		t.Fatalf("repeated identity gave task %d, want the first item's %d", r.ID, d.ID)
	}
	wantErr(t, items[4].Err, store.ErrConflict, taken.IdentityKey)
	late := ok(5, false)
	wantErr(t, items[6].Err, store.ErrConflict, diam.IdentityKey)
	wantErr(t, items[7].Err, store.ErrInvalid, "tasks[7]")
	if tasks, steps := b.totals(t); tasks != 3 || steps != 1+4+2 {
		t.Fatalf("rows: %d tasks, %d steps; want 3 and 7", tasks, steps)
	}

	// The diamond's edges hold: only a is ready, and the delayed chain
	// has nothing ready before its time.
	detail := b.get(t, d.ID)
	if len(detail.Edges) != 4 {
		t.Fatalf("diamond has %d edges, want 4", len(detail.Edges))
	}
	got := b.claim(t, 100)
	names := map[string]bool{}
	for _, c := range got {
		names[c.Step.Name] = true
	}
	if len(got) != 2 || !names["a"] || !names["x"] {
		t.Fatalf("claimed %v, want a and x (late is not due, b/c/d wait for a)", names)
	}
	for _, s := range b.get(t, late.ID).Steps {
		if s.Name == "late" && !s.NextAttemptAt.Equal(b.now.Add(time.Hour)) {
			t.Fatalf("late's next attempt = %v, want %v", s.NextAttemptAt, b.now.Add(time.Hour))
		}
	}
}

// testCreateTasksInTx: CreateTasks inside a transaction the caller rolls
// back writes nothing.
func testCreateTasksInTx(t *testing.T, b *bundle) {
	tx, err := b.s.DB().BeginTx(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	items, err := b.s.WithTx(tx).CreateTasks(b.ctx, []*store.CreateTaskParams{b.params(chain("a")), b.params(diamond())})
	if err != nil || items[0].Err != nil || items[1].Err != nil {
		t.Fatalf("CreateTasks in tx: %v, %+v", err, items)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if tasks, steps := b.totals(t); tasks != 0 || steps != 0 {
		t.Fatalf("after rollback: %d tasks, %d steps; want none", tasks, steps)
	}
}

// testCancelWideTask: cancelling a wide task writes a transition per
// step, more parameters than one statement may bind: 6,000 steps on
// Postgres (7 parameters each, 30,000 a statement), 300 on SQLite (400 a
// statement), where 6,000 took 80 s under the race detector.
func testCancelWideTask(t *testing.T, b *bundle) {
	width := 6000
	if b.s.DB().Dialect().Name() == dialect.SQLite {
		width = 300
	}
	steps := make([]store.NewStep, width)
	for i := range steps {
		steps[i] = store.NewStep{Name: fmt.Sprintf("s%04d", i), Handler: "h", Retryable: true}
	}
	d := b.create(t, steps)
	if _, err := b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: d.Task.ID}); err != nil {
		t.Fatalf("CancelTask: %v", err)
	}
	h, err := b.s.History(b.ctx, d.Task.ID)
	if err != nil {
		t.Fatal(err)
	}
	cancelled := 0
	for _, tr := range h.Steps {
		if tr.ToState == string(store.StepCancelled) && tr.MostRecent {
			cancelled++
		}
	}
	if cancelled != len(steps) {
		t.Fatalf("%d steps have a current cancelled transition, want %d", cancelled, len(steps))
	}
}
