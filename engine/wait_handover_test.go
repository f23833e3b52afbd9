package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
)

// A commit of this process that finishes a task hands it to the process's
// waiters whole (Postgres returns it from the finishing statement): each
// Wait reads the task once, at its first look, and two waiters of one
// task decode their own copies of the results (a shared copy decoded
// twice would lose the codec's padding twice).
func TestWaitTakesTheFinishedTaskFromTheCommit(t *testing.T) {
	ctx := context.Background()
	st := &doneReads{Store: openChaosStore(t, "postgres")}
	cfg := chaosConfig(st, "w")
	cfg.Codec = &xorCodec{name: "xor/v1", pad: 3}
	cfg.Execution.PollInterval = time.Minute // no look but the first and the wake-up
	e := newEngine(t, cfg)
	release := make(chan struct{})
	must(t, e.HandleFunc("a", func(*engine.StepContext) (any, error) { <-release; return "a", nil }))
	must(t, e.HandleFunc("b", func(sc *engine.StepContext) (any, error) {
		a, err := engine.Result[string](sc, "a")
		if err != nil {
			return nil, err
		}
		return a + "b", nil
	}))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "ab", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "a"}, {Name: "b", Handler: "b", DependsOn: []string{"a"}}}}))
	run(t, e)
	h, err := e.Start(ctx, "t/ab", nil)
	must(t, err)
	type result struct {
		v   string
		err error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			out, err := h.Wait(ctx)
			var v string
			if err == nil {
				err = out.Decode("b", &v)
			}
			results <- result{v, err}
		}()
	}
	// Both waiters have looked once (each registers before it looks).
	pgtest.WaitFor(t, "both waiters' first look", 20*time.Second, time.Millisecond, func() bool { return st.looks.Load() >= 2 })
	close(release)
	for range 2 {
		if r := <-results; r.err != nil || r.v != "ab" {
			t.Fatalf("Wait gave %q, %v; want \"ab\"", r.v, r.err)
		}
	}
	if n := st.done.Load(); n != 0 {
		t.Fatalf("the waiters read the finished task %d times, want 0 (handed over by the commit)", n)
	}
}

// doneReads counts Wait's looks at tasks, and those that found the task
// finished.
type doneReads struct {
	store.Store
	looks, done atomic.Int64
}

func (s *doneReads) GetTaskIfDone(ctx context.Context, id int64) (*store.TaskDetail, error) {
	s.looks.Add(1)
	d, err := s.Store.GetTaskIfDone(ctx, id)
	if err == nil && d.Task.State.Done() {
		s.done.Add(1)
	}
	return d, err
}
