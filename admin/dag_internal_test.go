package admin

import (
	"testing"

	"github.com/tasker-go/tasker/store"
)

func intp(n int) *int { return &n }

// TestLayoutLayers: a step sits one layer right of its deepest
// dependency; a code-first workflow's durable steps (no edges) are drawn
// as their sequence after the driver; no two boxes overlap.
func TestLayoutLayers(t *testing.T) {
	dag := &store.TaskDetail{Task: &store.Task{Kind: store.KindDAG},
		Steps: []*store.Step{{ID: 1, Name: "a"}, {ID: 2, Name: "b"}, {ID: 3, Name: "c"}, {ID: 4, Name: "d"}},
		Edges: []*store.Edge{{FromStepID: 1, ToStepID: 2}, {FromStepID: 2, ToStepID: 3}, {FromStepID: 1, ToStepID: 4}, {FromStepID: 3, ToStepID: 4}}}
	g := layout(dag)
	x := map[string]int{}
	for _, n := range g.Nodes {
		x[n.Name] = n.X
	}
	col := nodeW + gapX
	if x["a"] != margin || x["b"] != margin+col || x["c"] != margin+2*col || x["d"] != margin+3*col {
		t.Fatalf("layers by x: %v; want a, b, c, d in layers 0..3 (d after its deepest dependency c)", x)
	}
	if len(g.Edges) != 4 {
		t.Fatalf("%d edges, want 4", len(g.Edges))
	}
	code := &store.TaskDetail{Task: &store.Task{Kind: store.KindCode},
		Steps: []*store.Step{{ID: 9, Name: "charge", Sequence: intp(2)}, {ID: 7, Name: "driver"}, {ID: 8, Name: "reserve", Sequence: intp(1)}}}
	g = layout(code)
	var order []string
	for _, n := range g.Nodes {
		order = append(order, n.Name)
		if n.Y != margin {
			t.Errorf("durable step %s not on the one row of the sequence (y %d)", n.Name, n.Y)
		}
	}
	if len(order) != 3 || order[0] != "driver" || order[1] != "reserve" || order[2] != "charge" {
		t.Fatalf("code-first order %v, want driver, reserve, charge", order)
	}
	if len(g.Edges) != 2 {
		t.Fatalf("%d sequence links, want 2", len(g.Edges))
	}
}
