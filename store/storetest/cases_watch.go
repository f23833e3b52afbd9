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
// each as GetTask reads it after the commit (Postgres returns them; a
// store may return none), and never a task it did not finish or nobody
// watched.
func testFinishWatched(t *testing.T, b *bundle) {
	x := b.create(t, chain("p", "q"))
	p := b.claimOne(t, "p")
	if _, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{complete(p, `{"p":1}`)}, Now: b.now}); err != nil {
		t.Fatal(err)
	}
	q := b.claimOne(t, "q")
	y := b.create(t, chain("y1", "y2"))
	y1 := b.claimOne(t, "y1")
	z := b.create(t, chain("z"))
	zc := b.claimOne(t, "z")
	res, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{
		Outcomes: []store.StepOutcome{complete(q, `{"q":2}`), complete(y1, `{"y":1}`), complete(zc, `{"z":3}`)},
		Now:      b.now,
		Watch:    []int64{z.Task.ID, x.Task.ID, y.Task.ID, x.Task.ID + y.Task.ID + z.Task.ID + 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tasks) != 2 || res.Tasks[0].TaskID != x.Task.ID || res.Tasks[1].TaskID != z.Task.ID {
		t.Fatalf("tasks finished: %+v, want tasks %d and %d", res.Tasks, x.Task.ID, z.Task.ID)
	}
	if b.s.Capabilities().Dialect == "postgres" && len(res.Finished) != 2 {
		t.Fatalf("Postgres returned %d watched tasks, want the two it finished", len(res.Finished))
	}
	for _, got := range res.Finished {
		if got.Task.ID != x.Task.ID && got.Task.ID != z.Task.ID {
			t.Fatalf("returned task %d, which the commit did not finish", got.Task.ID)
		}
		sameTask(t, got, b.get(t, got.Task.ID))
	}
}

// testGetTasks: GetTasks reads each task of ids as GetTask does, in id
// order, once, leaving out ids of no task.
func testGetTasks(t *testing.T, b *bundle) {
	if got, err := b.s.GetTasks(b.ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("GetTasks(nil) = %v, %v; want nothing", got, err)
	}
	done := b.create(t, chain("p1", "p2", "p3"))
	for _, name := range []string{"p1", "p2", "p3"} {
		b.finish(t, complete(b.claimOne(t, name), `{"n":1}`))
	}
	running := b.create(t, chain("r1", "r2"))
	single := b.create(t, chain("s"))
	missing := done.Task.ID + running.Task.ID + single.Task.ID + 1000
	got, err := b.s.GetTasks(b.ctx, []int64{single.Task.ID, missing, done.Task.ID, running.Task.ID, single.Task.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{done.Task.ID, running.Task.ID, single.Task.ID}
	if len(got) != len(want) {
		t.Fatalf("GetTasks returned %d tasks, want %d (%v)", len(got), len(want), want)
	}
	for i, d := range got {
		if d.Task.ID != want[i] {
			t.Fatalf("task %d at %d, want %d: ids in order, once each", d.Task.ID, i, want[i])
		}
		sameTask(t, d, b.get(t, d.Task.ID))
	}
	if len(got[0].Edges) != 2 || len(got[0].Steps) != 3 || got[0].Task.State != store.TaskComplete {
		t.Fatalf("the finished chain: %d steps, %d edges, state %s", len(got[0].Steps), len(got[0].Edges), got[0].Task.State)
	}
}

// sameTask checks that got is want: the task, each step (results compared
// as text without spaces) and the edges.
func sameTask(t *testing.T, got, want *store.TaskDetail) {
	t.Helper()
	if !reflect.DeepEqual(*got.Task, *want.Task) {
		t.Errorf("task %d returned:\n%+v\nGetTask:\n%+v", got.Task.ID, *got.Task, *want.Task)
	}
	if len(got.Steps) != len(want.Steps) {
		t.Fatalf("task %d: returned %d steps, GetTask %d", got.Task.ID, len(got.Steps), len(want.Steps))
	}
	for i, s := range got.Steps {
		w := want.Steps[i]
		gr, wr := strings.ReplaceAll(string(s.Results), " ", ""), strings.ReplaceAll(string(w.Results), " ", "")
		sc, wc := *s, *w
		sc.Results, wc.Results = nil, nil
		if gr != wr || !reflect.DeepEqual(sc, wc) {
			t.Errorf("task %d step %d returned:\n%+v %s\nGetTask:\n%+v %s", got.Task.ID, i, sc, gr, wc, wr)
		}
	}
	if !reflect.DeepEqual(got.Edges, want.Edges) {
		t.Errorf("task %d: edges returned %v, GetTask %v", got.Task.ID, got.Edges, want.Edges)
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
