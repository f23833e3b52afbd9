package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// ledger is the side-effect log of the chaos workloads: every handler
// run appends its idempotency key.
type ledger struct {
	mu   sync.Mutex
	runs map[string]int
}

func newLedger() *ledger { return &ledger{runs: map[string]int{}} }

func (l *ledger) add(key string) {
	l.mu.Lock()
	l.runs[key]++
	l.mu.Unlock()
}

func (l *ledger) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[key]
}

// chaosWork registers the chaos workload on e: a DAG order (validate →
// charge, reserve → confirm) and a code-first flow (reserve, wait for
// "paid", ship), every side effect logged in l.
func chaosWork(t *testing.T, e *engine.Engine, l *ledger) {
	t.Helper()
	must(t, e.HandleFunc("effect", func(sc *engine.StepContext) (any, error) {
		l.add(sc.IdempotencyKey)
		return sc.Step, nil
	}))
	must(t, e.Register(&engine.Template{Namespace: "chaos", Name: "order", Steps: []engine.StepTemplate{
		{Name: "validate", Handler: "effect", RetryLimit: 5},
		{Name: "charge", Handler: "effect", DependsOn: []string{"validate"}, RetryLimit: 5},
		{Name: "reserve", Handler: "effect", DependsOn: []string{"validate"}, RetryLimit: 5},
		{Name: "confirm", Handler: "effect", DependsOn: []string{"charge", "reserve"}, RetryLimit: 5},
	}}))
	effect := func(ctx context.Context) (string, error) {
		info, _ := engine.StepInfoFrom(ctx)
		l.add(info.IdempotencyKey)
		return info.Name, nil
	}
	must(t, engine.RegisterWorkflow(e, "chaos/flow", func(w *engine.WorkflowContext, n int) (string, error) {
		if _, err := engine.Step(w, "reserve", effect, engine.WithStepRetryLimit(5)); err != nil {
			return "", err
		}
		paid, err := engine.WaitEvent[int](w, "paid", time.Hour)
		if err != nil {
			return "", err
		}
		if paid != n {
			return "", engine.Permanent(fmt.Errorf("paid %d, want %d", paid, n))
		}
		return engine.Step(w, "ship", effect, engine.WithStepRetryLimit(5))
	}))
}

// retrying calls f until it succeeds, as a caller whose request timed out
// sends it again (Start and SendEvent are idempotent on their keys).
func retrying(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for range 50 {
		if err = f(); err == nil || !errors.Is(err, store.ErrRetryable) {
			break
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// startChaos starts dags order tasks and flows chaos.flow tasks (each
// start retried on a transient error, with its key), sends each flow its
// event (twice when resend, as a sender whose reply was lost), and
// returns the task ids.
func startChaos(t *testing.T, e *engine.Engine, dags, flows int, resend bool) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	for i := range dags {
		retrying(t, "starting an order", func() error {
			h, err := e.Start(ctx, "chaos/order", map[string]int{"n": i}, engine.WithIdempotencyKey(fmt.Sprint("order-", i)))
			if err == nil {
				ids = append(ids, h.TaskID)
			}
			return err
		})
	}
	for i := range flows {
		var id int64
		retrying(t, "starting a flow", func() error {
			h, err := engine.StartWorkflow[int, string](ctx, e, "chaos/flow", i, engine.WithIdempotencyKey(fmt.Sprint("flow-", i)))
			if err == nil {
				id = h.TaskID
			}
			return err
		})
		ids = append(ids, id)
		sends := 1
		if resend {
			sends = 2
		}
		for range sends {
			retrying(t, "sending paid", func() error {
				_, err := e.SendEvent(ctx, id, "paid", fmt.Sprint("pay-", i), i)
				return err
			})
		}
	}
	return ids
}

// chaosFigures are what a chaos scenario reports.
type chaosFigures struct {
	Workflows, Lost, DoubleCompletions, Stale int
}

// checkChaos checks the invariants on every task: it finished complete;
// every step's history has exactly one move to complete (and every
// transition is legal, the row's state its latest move); every completed
// step's side effect ran at least once, with its idempotency key.
func checkChaos(t *testing.T, st store.Store, l *ledger, ids []int64) chaosFigures {
	t.Helper()
	ctx := context.Background()
	f := chaosFigures{Workflows: len(ids)}
	for _, id := range ids {
		d, err := st.GetTask(ctx, id)
		must(t, err)
		if d.Task.State != store.TaskComplete {
			f.Lost++
			t.Errorf("task %d (%s) is %s, want complete: %s", id, d.Task.Name, d.Task.State, d.Task.LastError)
			continue
		}
		h, err := st.History(ctx, id)
		must(t, err)
		completions := map[int64]int{}
		latest := map[int64]string{}
		for _, tr := range h.Steps {
			if tr.FromState != nil {
				if err := store.CheckStepTransition(tr.StepID, store.StepState(*tr.FromState), store.StepState(tr.ToState)); err != nil {
					t.Errorf("task %d step %d: illegal move in history: %v", id, tr.StepID, err)
				}
			}
			if tr.ToState == string(store.StepComplete) {
				completions[tr.StepID]++
			}
			latest[tr.StepID] = tr.ToState
		}
		for _, s := range d.Steps {
			if n := completions[s.ID]; s.State == store.StepComplete && n != 1 {
				f.DoubleCompletions++
				t.Errorf("task %d step %s completed %d times in its history", id, s.Name, n)
			}
			if got, ok := latest[s.ID]; ok && got != string(s.State) {
				t.Errorf("task %d step %s is %s but its latest move is to %s", id, s.Name, s.State, got)
			}
			key := ""
			switch {
			case s.Sequence == nil && !strings.HasPrefix(s.Handler, engine.WorkflowHandlerPrefix):
				key = fmt.Sprintf("%d:%s", id, s.Name)
			case s.Handler == "workflow.step":
				key = fmt.Sprintf("%d:%d:%s", id, *s.Sequence, s.UserName())
			}
			if key != "" && s.State == store.StepComplete && l.count(key) == 0 {
				t.Errorf("task %d step %s completed but its side effect (key %s) never ran", id, s.Name, key)
			}
		}
	}
	return f
}
