package storetest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/store"
)

// testFinishWatched: a commit returns the watched tasks it finishes whole,
// as GetTask reads them after it (Postgres returns them; a store may
// return none), and never a task it did not finish or nobody watched.
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
	if b.s.Capabilities().Dialect == "postgres" && len(res.Finished) != 1 {
		t.Fatalf("Postgres returned %d watched tasks, want the one it finished", len(res.Finished))
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
}
