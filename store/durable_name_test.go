package store_test

import (
	"testing"

	"github.com/tasker-go/tasker/store"
)

func TestDurableStepName(t *testing.T) {
	for _, c := range []struct {
		name string
		seq  int
	}{{"charge", 1}, {"s2", 2}, {"a#b", 10}, {"", 0}, {"poll", 123456}} {
		row := store.DurableStepName(c.name, c.seq)
		name, seq, ok := store.ParseDurableStepName(row)
		if !ok || name != c.name || seq != c.seq {
			t.Errorf("ParseDurableStepName(%q) = %q, %d, %v; want %q, %d, true", row, name, seq, ok, c.name, c.seq)
		}
	}
	for _, s := range []string{"charge", "charge#", "charge#x", "charge#-1", "charge#1a", "#"} {
		if name, _, ok := store.ParseDurableStepName(s); ok || name != s {
			t.Errorf("ParseDurableStepName(%q) = %q, ok %v; want it refused", s, name, ok)
		}
	}
}

func TestTaskDetailStepFindsDurableStepsByTheirCodeName(t *testing.T) {
	seq := func(n int) *int { return &n }
	d := &store.TaskDetail{Steps: []*store.Step{
		{ID: 1, Name: "workflow"},
		{ID: 4, Name: "poll#3", Sequence: seq(3)},
		{ID: 2, Name: "s2#2", Sequence: seq(2)},
		{ID: 3, Name: "poll#1", Sequence: seq(1)},
		{ID: 5, Name: "tag#9"}, // a DAG step whose name merely contains '#'
	}}
	if s := d.Step("s2"); s == nil || s.ID != 2 {
		t.Fatalf(`Step("s2") = %+v, want the row s2#2`, s)
	}
	if s := d.Step("s2#2"); s == nil || s.ID != 2 {
		t.Fatalf(`Step("s2#2") = %+v, want the row s2#2`, s)
	}
	if s := d.Step("poll"); s == nil || s.ID != 3 {
		t.Fatalf(`Step("poll") = %+v, want poll#1 (the lowest sequence)`, s)
	}
	if got := d.StepsNamed("poll"); len(got) != 2 || got[0].ID != 3 || got[1].ID != 4 {
		t.Fatalf(`StepsNamed("poll") = %v, want poll#1 then poll#3`, got)
	}
	if s := d.Step("workflow"); s == nil || s.ID != 1 {
		t.Fatalf(`Step("workflow") = %+v, want the driver`, s)
	}
	if s := d.Step("tag"); s != nil {
		t.Fatalf(`Step("tag") = %+v, want nil: "tag#9" is not a durable row`, s)
	}
	if s := d.Step("tag#9"); s == nil || s.ID != 5 {
		t.Fatalf(`Step("tag#9") = %+v, want the DAG step`, s)
	}
	if s := d.Step("missing"); s != nil {
		t.Fatalf(`Step("missing") = %+v, want nil`, s)
	}
}
