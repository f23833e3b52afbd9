package chaos

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// templateChange: tasks of version 1 of a template are started; some run
// (held in their first step), the rest wait; version 2, of another shape,
// is registered. The tasks of version 1 finish with version 1's steps
// (their snapshot), new starts get version 2, and "name@1" still starts
// version 1.
func templateChange(ctx context.Context, tg opener, quick bool) (Row, error) {
	s, err := tg.open(ctx)
	if err != nil {
		return Row{}, err
	}
	defer s.Close()
	n := 100
	if quick {
		n = 12 // 8 running (the concurrency), 4 waiting
	}
	e, err := engine.New(config(s, "versions"))
	if err != nil {
		return Row{}, err
	}
	l := NewLedger()
	gate, entered := make(chan struct{}), make(chan struct{}, 2*n)
	if err := e.HandleFunc("gate", func(sc *engine.StepContext) (any, error) {
		l.Add(sc.IdempotencyKey)
		entered <- struct{}{}
		select {
		case <-gate:
			return "a", nil
		case <-sc.Done():
			return nil, context.Cause(sc)
		}
	}); err != nil {
		return Row{}, err
	}
	if err := e.HandleFunc("effect", func(sc *engine.StepContext) (any, error) {
		l.Add(sc.IdempotencyKey)
		return sc.Step, nil
	}); err != nil {
		return Row{}, err
	}
	v1 := &engine.Template{Namespace: "chaos", Name: "versioned", Version: "1", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "gate", RetryLimit: 10, Timeout: time.Minute},
		{Name: "b", Handler: "effect", DependsOn: []string{"a"}, RetryLimit: 10}}}
	v2 := &engine.Template{Namespace: "chaos", Name: "versioned", Version: "2", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "effect", RetryLimit: 10},
		{Name: "c", Handler: "effect", DependsOn: []string{"a"}, RetryLimit: 10},
		{Name: "d", Handler: "effect", DependsOn: []string{"c"}, RetryLimit: 10}}}
	if err := e.Register(v1); err != nil {
		return Row{}, err
	}
	want := map[int64][]string{} // task -> its steps
	start := func(name string, steps ...string) error {
		h, err := e.Start(ctx, name, map[string]int{"n": len(want)})
		if err == nil {
			want[h.TaskID] = steps
		}
		return err
	}
	for range n {
		if err := start("chaos/versioned", "a", "b"); err != nil {
			return Row{}, err
		}
	}
	stop, err := run(ctx, e)
	if err != nil {
		return Row{}, err
	}
	defer stop()
	running := min(n, config(s, "").Execution.MaxConcurrency)
	for range running {
		select {
		case <-entered:
		case <-time.After(time.Minute):
			return Row{}, fmt.Errorf("the first steps of version 1 did not start within a minute")
		}
	}
	began := time.Now()
	if err := e.Register(v2); err != nil {
		return Row{}, err
	}
	for i := range n {
		name, steps := "chaos/versioned", []string{"a", "c", "d"}
		if i%4 == 0 {
			name, steps = "chaos/versioned@1", []string{"a", "b"} // the old version, by name
		}
		if err := start(name, steps...); err != nil {
			return Row{}, err
		}
	}
	close(gate)
	ids := make([]int64, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	err = waitAll(ctx, e, ids)
	r := Row{Workflows: len(ids), Recovery: time.Since(began)}
	stop()
	if err != nil {
		return r, err
	}
	f, err := Check(ctx, s, l, ids)
	r.Lost, r.DoubleCompletions, r.Problems = f.Lost, f.DoubleCompletions, f.Problems
	if err != nil {
		return r, err
	}
	for _, id := range ids {
		d, err := s.GetTask(ctx, id)
		if err != nil {
			return r, err
		}
		var got []string
		for _, st := range d.Steps {
			got = append(got, st.Name)
			if st.State != store.StepComplete || st.Attempts != 1 {
				r.Problems = append(r.Problems, fmt.Sprintf("task %d step %s: %s after %d attempts, want complete after 1", id, st.Name, st.State, st.Attempts))
			}
		}
		slices.Sort(got)
		wantVersion := map[bool]string{true: "1", false: "2"}[want[id][1] == "b"]
		if !slices.Equal(got, want[id]) || d.Task.Version != wantVersion {
			r.Problems = append(r.Problems, fmt.Sprintf("task %d ran version %s with steps %v, want version %s with %v", id, d.Task.Version, got, wantVersion, want[id]))
		}
	}
	return r, nil
}
