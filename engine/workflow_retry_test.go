package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/faultstore"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/testkit"
)

// Code-first retries run at their due time, not at the next poll, and
// their attempts are recorded as a DAG step's are: many workflows whose
// durable step fails its first attempt, with a backoff waited out in the
// running workflow (1 ms) or one that suspends it (300 ms), on both
// databases. The poll interval is a minute, so only the engine's own
// wake-ups can finish them within the 20 s bound (a bound on a failure,
// far above any machine's load, not a speed target). Each durable row ends
// complete after 2 attempts, with its full trail of transitions and the
// failure's error, and the task counts nothing unfinished.
func TestDurableRetriesRunAtTheirDueTime(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "e.db"), nil)
		must(t, err)
		t.Cleanup(func() { s.Close() })
		checkDurableRetries(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := postgres.Open(context.Background(), pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t)})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		checkDurableRetries(t, s)
	})
}

func checkDurableRetries(t *testing.T, s store.Store) {
	e := newEngine(t, engine.Config{Store: s, Execution: engine.ExecutionConfig{PollInterval: time.Minute}})
	const perBackoff = 12
	backoffs := map[string]time.Duration{"inline": time.Millisecond, "suspended": 300 * time.Millisecond}
	var mu sync.Mutex
	attempts := map[string]int{}
	for name, d := range backoffs {
		policy := retry.Policy{Base: d, Max: d, NoJitter: true}
		must(t, engine.RegisterWorkflow(e, "t/flaky-"+name, func(wctx *engine.WorkflowContext, i int) (int, error) {
			return engine.Step(wctx, "call", func(ctx context.Context) (int, error) {
				info, _ := engine.StepInfoFrom(ctx)
				mu.Lock()
				attempts[fmt.Sprintf("%s/%d", name, i)]++
				mu.Unlock()
				if info.Attempt == 1 {
					return 0, engine.Retryable(fmt.Errorf("workflow %s/%d: transient", name, i), 0)
				}
				return i * 10, nil
			}, engine.WithStepBackoff(policy))
		}))
	}
	run(t, e)
	before := e.Stats()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type started struct {
		name string
		i    int
		h    *engine.WorkflowHandle[int]
	}
	var all []started
	for name := range backoffs {
		for i := range perBackoff {
			h, err := engine.StartWorkflow[int, int](ctx, e, "t/flaky-"+name, i)
			must(t, err)
			all = append(all, started{name, i, h})
		}
	}
	for _, w := range all {
		v, err := w.h.Result(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("workflow %s/%d did not finish within 20 s: its retry waited for the poll interval (a minute)", w.name, w.i)
		}
		if err != nil || v != w.i*10 {
			t.Fatalf("workflow %s/%d: result %d, %v; want %d", w.name, w.i, v, err, w.i*10)
		}
	}
	if got := e.Stats().StepsRetried - before.StepsRetried; got != int64(len(all)) {
		t.Errorf("StepsRetried grew by %d, want %d (one retry per workflow)", got, len(all))
	}
	for _, w := range all {
		mu.Lock()
		n := attempts[fmt.Sprintf("%s/%d", w.name, w.i)]
		mu.Unlock()
		if n != 2 {
			t.Errorf("workflow %s/%d: its step ran %d times, want 2", w.name, w.i, n)
		}
		d, err := s.GetTask(context.Background(), w.h.TaskID)
		must(t, err)
		if d.Task.State != store.TaskComplete || d.Task.Unfinished != 0 {
			t.Errorf("workflow %s/%d: task %s with %d unfinished, want complete with 0", w.name, w.i, d.Task.State, d.Task.Unfinished)
		}
		var durable *store.Step
		for _, st := range d.Steps {
			if st.Sequence != nil {
				durable = st
			}
		}
		if durable == nil || durable.State != store.StepComplete || durable.Attempts != 2 || len(durable.LastError) == 0 {
			t.Fatalf("workflow %s/%d: durable row %+v, want complete after 2 attempts with the first one's error", w.name, w.i, durable)
		}
		h, err := s.History(context.Background(), w.h.TaskID)
		must(t, err)
		var trail []string
		for _, tr := range h.Steps {
			if tr.StepID == durable.ID {
				trail = append(trail, tr.ToState)
			}
		}
		if want := "[in_progress pending in_progress complete]"; fmt.Sprint(trail) != want {
			t.Errorf("workflow %s/%d: durable row's transitions %v, want %s", w.name, w.i, trail, want)
		}
	}
}

// Every attempt of a durable step, the failed ones included, is recorded
// through the drivers' group commit (store.RecordAttempts), as a DAG
// step's retry goes through the completer's: none costs a RecordStep
// transaction of its own. (Both used to: a failure and each later attempt
// were one RecordStep transaction each.)
func TestDurableRetryIsRecordedInTheGroupCommit(t *testing.T) {
	inner, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "e.db"), nil)
	must(t, err)
	t.Cleanup(func() { inner.Close() })
	fs, err := faultstore.New(inner, 1)
	must(t, err)
	e := newEngine(t, engine.Config{Store: fs.Wrap(), Execution: engine.ExecutionConfig{PollInterval: time.Minute}})
	policy := retry.Policy{Base: time.Millisecond, Max: time.Millisecond, NoJitter: true}
	must(t, engine.RegisterWorkflow(e, "t/twice-flaky", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.Step(wctx, "call", func(ctx context.Context) (int, error) {
			if info, _ := engine.StepInfoFrom(ctx); info.Attempt < 3 {
				return 0, fmt.Errorf("attempt %d: transient", info.Attempt)
			}
			return 7, nil
		}, engine.WithStepBackoff(policy), engine.WithStepRetryLimit(3))
	}))
	run(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := engine.StartWorkflow[int, int](ctx, e, "t/twice-flaky", 1)
	must(t, err)
	if v, err := h.Result(ctx); err != nil || v != 7 {
		t.Fatalf("result %d, %v; want 7 after two failed attempts", v, err)
	}
	if got := fs.Calls("RecordStep"); got != 0 {
		t.Errorf("RecordStep was called %d times; want every attempt recorded by RecordAttempts", got)
	}
	if got := fs.Calls("RecordAttempts"); got != 3 {
		t.Errorf("RecordAttempts was called %d times, want 3 (two failed attempts and the last)", got)
	}
}

// ExecutionConfig.DefaultTimeout bounds each attempt of a step, DAG or
// durable, that sets no timeout of its own, and not a code-first
// workflow's driver: one run of the driver executes durable steps one
// after another, so a bound on the run cut a step off by the time its
// predecessors took (a workflow of two 10-minute steps under the 15-minute
// preset timed out in the second). Each durable step's context has its
// own timeout, or the default.
func TestDefaultTimeoutBoundsStepsNotTheWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Execution: engine.ExecutionConfig{DefaultTimeout: time.Hour}}})
	left := func(ctx context.Context) (time.Duration, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			return 0, nil
		}
		return time.Until(dl), nil
	}
	must(t, engine.RegisterWorkflow(env.Engine, "t/deftimeout", func(wctx *engine.WorkflowContext, _ int) ([]time.Duration, error) {
		if _, ok := wctx.Deadline(); ok {
			return nil, engine.Permanent(errors.New("the driver's run has a deadline"))
		}
		own, err := engine.Step(wctx, "own", left, engine.WithStepTimeout(2*time.Hour))
		if err != nil {
			return nil, err
		}
		def, err := engine.Step(wctx, "default", left)
		return []time.Duration{own, def}, err
	}))
	h, err := engine.StartWorkflow[int, []time.Duration](context.Background(), env.Engine, "t/deftimeout", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	got, err := h.Result(context.Background())
	if err != nil || len(got) != 2 || got[0] <= time.Hour || got[1] <= 59*time.Minute || got[1] > time.Hour {
		t.Fatalf("time left to the steps: %v, %v; want about 2h (their own) and 1h (the default)", got, err)
	}
}
