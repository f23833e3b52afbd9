package engine_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// taskReads counts the statements that read a task for Wait.
type taskReads struct{ n atomic.Int64 }

func (h *taskReads) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (h *taskReads) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if strings.Contains(e.Query, "LEFT JOIN tasker_steps s ON s.task_id = t.id") {
		h.n.Add(1)
	}
}

// Many callers waiting at once each read their task a bounded number of
// times: on SQLite every commit to the file signals every waiter's look,
// and each used to read its own task at each signal (13 reads per Wait
// with 500 waiters, 100 with 5,000).
func TestConcurrentWaitersDoNotReadAtEveryCommit(t *testing.T) {
	ctx := context.Background()
	reads := &taskReads{}
	st, err := sqlite.Open(ctx, t.TempDir()+"/herd.db", &sqlite.Options{QueryHooks: []bun.QueryHook{reads}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEngine(t, engine.Config{Store: st})
	must(t, e.HandleFunc("one", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, e.Register(&engine.Template{Namespace: "herd", Name: "one", Steps: []engine.StepTemplate{{Name: "one", Handler: "one"}}}))
	run(t, e)
	const n = 400
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := e.Start(ctx, "herd/one", map[string]int{"i": i})
			if err != nil {
				t.Error(err)
				return
			}
			out, err := h.Wait(ctx)
			if err != nil || out.Err() != nil {
				t.Errorf("wait %d: %v %v", i, err, out)
			}
		}()
	}
	wg.Wait()
	// A first look, the look its finishing commit or the signal after it
	// calls for, and a look at each poll interval for a Wait that takes
	// longer than it on a loaded machine (two, under the whole
	// race-enabled suite: 1,203 reads were seen with a bound of 3 each).
	// Reading at every commit took 12 each.
	if got := reads.n.Load(); got > 4*n {
		t.Fatalf("%d waits read their tasks %d times, want at most %d", n, got, 4*n)
	}
}
