package storetest

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testFinishWatched: a commit returns the watched tasks it finishes whole,
// as GetTask reads them after it, and never a task it did not finish or
// nobody watched.
func testFinishWatched(t *testing.T, b *bundle) {
	x := b.create(t, chain("p", "q"))
	p := b.claimOne(t, "p")
	if _, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{complete(p, `{"p":1}`)}, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	q := b.claimOne(t, "q")
	y := b.create(t, chain("y1", "y2"))
	y1 := b.claimOne(t, "y1")
	res, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{
		Outcomes: []store.StepOutcome{complete(q, `{"q":2}`), complete(y1, `{"y":1}`)},
		Now:      b.now,
		Watch:    []int64{x.Task.ID, y.Task.ID, x.Task.ID + y.Task.ID + 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tasks) != 1 || res.Tasks[0].TaskID != x.Task.ID {
		t.Fatalf("tasks finished: %+v, want task %d", res.Tasks, x.Task.ID)
	}
	if len(res.Finished) != 1 {
		t.Fatalf("returned %d watched tasks, want the one the commit finished", len(res.Finished))
	}
	want := b.get(t, x.Task.ID)
	for _, got := range res.Finished {
		if got.Task.ID != x.Task.ID {
			t.Fatalf("returned task %d, which the commit did not finish", got.Task.ID)
		}
		if !reflect.DeepEqual(*got.Task, *want.Task) {
			t.Errorf("task returned:\n%+v\nGetTask after:\n%+v", *got.Task, *want.Task)
		}
		if len(got.Steps) != len(want.Steps) {
			t.Fatalf("returned %d steps, GetTask %d", len(got.Steps), len(want.Steps))
		}
		for i, s := range got.Steps {
			w := want.Steps[i]
			gr, wr := strings.ReplaceAll(string(s.Results), " ", ""), strings.ReplaceAll(string(w.Results), " ", "")
			sc, wc := *s, *w
			sc.Results, wc.Results = nil, nil
			if gr != wr || !reflect.DeepEqual(sc, wc) {
				t.Errorf("step %d returned:\n%+v %s\nGetTask after:\n%+v %s", i, sc, gr, wc, wr)
			}
		}
		if !reflect.DeepEqual(got.Edges, want.Edges) {
			t.Errorf("edges returned %v, GetTask %v", got.Edges, want.Edges)
		}
	}
	// A mixed group (completions and a failure: not one statement on
	// Postgres) returns the watched tasks it finished too, the failed
	// one included.
	y2 := b.claimOne(t, "y2")
	z := b.create(t, chain("z"))
	zc := b.claimOne(t, "z")
	w := b.create(t, chain("w"))
	wc := b.claimOne(t, "w")
	res, err = b.s.FinishSteps(b.ctx, &store.FinishStepsParams{
		Outcomes: []store.StepOutcome{complete(zc, `{"z":3}`), {Lease: wc.Step.Lease(), Kind: store.OutcomeFail, Error: store.JSON(`{"error":"no"}`)}, complete(y2, `{}`)},
		Now:      b.now,
		Watch:    []int64{w.Task.ID, z.Task.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, d := range res.Finished {
		got = append(got, d.Task.ID)
		if d.Task.ID == z.Task.ID && (len(d.Steps) != 1 || !strings.Contains(string(d.Steps[0].Results), "3")) {
			t.Errorf("task z returned with steps %+v, want its step's result", d.Steps)
		}
	}
	slices.Sort(got)
	if want := []int64{z.Task.ID, w.Task.ID}; !slices.Equal(got, want) {
		t.Fatalf("the mixed group returned tasks %v, want %v", got, want)
	}
	// Kept tasks come back only from a statement that returns them
	// anyway: Postgres's completion group; never from a read of their
	// own (SQLite), nor from a mixed group.
	k1 := b.create(t, chain("k1"))
	k1c := b.claimOne(t, "k1")
	res, err = b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{complete(k1c, `{}`)}, Now: b.now, Keep: []int64{k1.Task.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]int{true: 1, false: 0}[b.s.Capabilities().Dialect == "postgres"]; len(res.Finished) != want {
		t.Fatalf("a completion group returned %d kept tasks, want %d", len(res.Finished), want)
	}
	k2 := b.create(t, chain("k2"))
	k2c := b.claimOne(t, "k2")
	k3 := b.create(t, chain("k3"))
	k3c := b.claimOne(t, "k3")
	res, err = b.s.FinishSteps(b.ctx, &store.FinishStepsParams{
		Outcomes: []store.StepOutcome{complete(k2c, `{}`), {Lease: k3c.Step.Lease(), Kind: store.OutcomeFail, Error: store.JSON(`{"error":"no"}`)}},
		Now:      b.now, Keep: []int64{k2.Task.ID, k3.Task.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Finished) != 0 {
		t.Fatalf("a mixed group read %d kept tasks, want none", len(res.Finished))
	}
}

// testTasksDone: TasksDone picks the finished tasks (every done state)
// among ids, leaving running tasks and ids of no task out.
func testTasksDone(t *testing.T, b *bundle) {
	if got, err := b.s.TasksDone(b.ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("TasksDone(nil) = %v, %v; want nothing", got, err)
	}
	at := b.now.Add(-time.Minute)
	complete := finishedAt(t, b, store.TaskComplete, at, chain("x"))
	cancelled := finishedAt(t, b, store.TaskCancelled, at, chain("x"))
	failed := finishedAt(t, b, store.TaskError, at, chain("x"))
	running := b.create(t, chain("x"))
	ids := []int64{running.Task.ID, complete.Task.ID, failed.Task.ID + cancelled.Task.ID + running.Task.ID + 1000, cancelled.Task.ID, failed.Task.ID}
	got, err := b.s.TasksDone(b.ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []int64{complete.Task.ID, cancelled.Task.ID, failed.Task.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("TasksDone(%v) = %v, want %v (complete, cancelled, error)", ids, got, want)
	}
}
