package engine

// dependencyCycles returns the dependency cycles among steps, each as its
// names with the first repeated at the end, in the order a depth-first
// walk of the steps (in their order) closes them. store.FindCycle stops at
// the first, and a step on itself was that first: Validate, which reports
// every problem at once, named one cycle and hid the rest. A step on
// itself is left out here (Validate reports it on its own), and so is a
// name listed that no step has.
func dependencyCycles(steps []StepTemplate) [][]string {
	deps := make(map[string][]string, len(steps))
	for _, s := range steps {
		if _, dup := deps[s.Name]; !dup {
			deps[s.Name] = s.DependsOn
		}
	}
	const (
		unseen = iota
		onPath
		done
	)
	mark := make(map[string]int, len(steps))
	var path []string
	var out [][]string
	var visit func(string)
	visit = func(n string) {
		mark[n] = onPath
		path = append(path, n)
		for _, d := range deps[n] {
			if _, ok := deps[d]; !ok || d == n {
				continue
			}
			switch mark[d] {
			case onPath:
				for i, p := range path {
					if p == d {
						out = append(out, append(append([]string(nil), path[i:]...), d))
						break
					}
				}
			case unseen:
				visit(d)
			}
		}
		path = path[:len(path)-1]
		mark[n] = done
	}
	for _, s := range steps {
		if mark[s.Name] == unseen {
			visit(s.Name)
		}
	}
	return out
}
