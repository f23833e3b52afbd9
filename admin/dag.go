package admin

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/tasker-go/tasker/store"
)

// graph is a task's steps laid out in layers for the dashboard's SVG: a
// step's layer is the length of the longest chain of dependencies before
// it, so every edge points right. A code-first workflow's durable steps,
// which have no edges, are drawn as their sequence: one per layer, joined
// in call order.
type graph struct {
	Width, Height int
	Nodes         []node
	Edges         []edgePath
}

type node struct {
	Name, State, Label, Title string
	X, Y, W, H                int
}

type edgePath struct{ D string }

const (
	nodeW, nodeH = 150, 34
	gapX, gapY   = 60, 18
	margin       = 12
)

// layout places the steps of d.
func layout(d *store.TaskDetail) graph {
	steps := slices.Clone(d.Steps)
	byID := make(map[int64]int, len(steps))
	deps := map[int64][]int64{}
	for _, e := range d.Edges {
		deps[e.ToStepID] = append(deps[e.ToStepID], e.FromStepID)
	}
	type link struct{ from, to int64 }
	var links []link
	if len(d.Edges) == 0 && d.Task.Kind == store.KindCode {
		// The driver first, then the durable steps in sequence order.
		slices.SortStableFunc(steps, func(a, b *store.Step) int { return cmp.Compare(seq(a.Sequence), seq(b.Sequence)) })
		for i := 1; i < len(steps); i++ {
			links = append(links, link{steps[i-1].ID, steps[i].ID})
		}
	} else {
		for _, e := range d.Edges {
			links = append(links, link{e.FromStepID, e.ToStepID})
		}
	}
	for i, s := range steps {
		byID[s.ID] = i
	}
	layer := make([]int, len(steps))
	var depth func(i int, seen map[int]bool) int
	memo := map[int]int{}
	depth = func(i int, seen map[int]bool) int {
		if v, ok := memo[i]; ok {
			return v
		}
		if seen[i] { // a cycle cannot be stored; guard all the same
			return 0
		}
		seen[i] = true
		best := 0
		for _, dep := range deps[steps[i].ID] {
			if j, ok := byID[dep]; ok {
				best = max(best, depth(j, seen)+1)
			}
		}
		memo[i] = best
		return best
	}
	if len(d.Edges) == 0 && d.Task.Kind == store.KindCode {
		for i := range steps {
			layer[i] = i
		}
	} else {
		for i := range steps {
			layer[i] = depth(i, map[int]bool{})
		}
	}
	size := map[int]int{} // steps per layer
	tallest := 0
	for _, l := range layer {
		size[l]++
		tallest = max(tallest, size[l])
	}
	rows := map[int]int{} // next free row per layer
	g := graph{}
	pos := make(map[int64]node, len(steps))
	for i, s := range steps {
		l := layer[i]
		r := rows[l]
		rows[l]++
		// Layers shorter than the tallest are centred on it.
		offset := (tallest - size[l]) * (nodeH + gapY) / 2
		label := stepLabel(s)
		if len([]rune(label)) > 20 {
			label = string([]rune(label)[:19]) + "…"
		}
		n := node{Name: s.Name, State: string(s.State), Label: label,
			Title: fmt.Sprintf("%s: %s, %d attempt(s)", stepLabel(s), s.State, s.Attempts),
			X:     margin + l*(nodeW+gapX), Y: margin + offset + r*(nodeH+gapY), W: nodeW, H: nodeH}
		pos[s.ID] = n
		g.Nodes = append(g.Nodes, n)
		g.Width = max(g.Width, n.X+nodeW+margin)
		g.Height = max(g.Height, n.Y+nodeH+margin)
	}
	for _, k := range links {
		a, okA := pos[k.from]
		b, okB := pos[k.to]
		if !okA || !okB {
			continue
		}
		x1, y1 := a.X+a.W, a.Y+a.H/2
		x2, y2 := b.X, b.Y+b.H/2
		mid := (x1 + x2) / 2
		g.Edges = append(g.Edges, edgePath{D: fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, mid, y1, mid, y2, x2-6, y2)})
	}
	return g
}
