package engine

import (
	"slices"

	"github.com/tasker-go/tasker/store"
)

// dependencyCycles returns every dependency cycle among steps (see
// store.FindCycles), but a step on itself, which Validate reports on its
// own: with it first, Validate named one cycle and hid the rest.
func dependencyCycles(steps []StepTemplate) [][]string {
	ns := make([]store.NewStep, len(steps))
	for i, s := range steps {
		ns[i] = store.NewStep{Name: s.Name, DependsOn: s.DependsOn}
	}
	return slices.DeleteFunc(store.FindCycles(ns), func(c []string) bool { return len(c) == 2 && c[0] == c[1] })
}
