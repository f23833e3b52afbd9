package engine_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	// An hour's poll: a look at the poll interval would count against
	// the bound on a loaded machine (1,911 reads were seen under the whole
	// suite), and a waiter that missed its signal would hang and fail.
	e := newEngine(t, engine.Config{Store: st, Execution: engine.ExecutionConfig{PollInterval: time.Hour}})
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
	// A first look, and the look its finishing commit or the signal
	// after it calls for (a spare for a signal that came early). Reading
	// at every commit took 12 each.
	if got := reads.n.Load(); got > 3*n {
		t.Fatalf("%d waits read their tasks %d times, want at most %d", n, got, 3*n)
	}
}
