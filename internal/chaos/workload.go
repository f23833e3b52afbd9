package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// Ledger is the side-effect log of the workload: every handler run
// appends its idempotency key.
type Ledger struct {
	mu   sync.Mutex
	runs map[string]int
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{runs: map[string]int{}} }

// Add logs one run of the side effect with that key.
func (l *Ledger) Add(key string) {
	l.mu.Lock()
	l.runs[key]++
	l.mu.Unlock()
}

// Count is how often the side effect with that key ran.
func (l *Ledger) Count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[key]
}

// Register registers the workload on e: a DAG order (validate → charge,
// reserve → confirm) and a code-first flow (reserve, wait for "paid", ship),
// every side effect logged in l. Steps get 10 attempts: a fault may cost
// one (a claim whose reply is lost expires and is rescued), and so may a
// heartbeat late on a loaded machine.
func Register(e *engine.Engine, l *Ledger) error {
	if err := e.HandleFunc("effect", func(sc *engine.StepContext) (any, error) {
		l.Add(sc.IdempotencyKey)
		return sc.Step, nil
	}); err != nil {
		return err
	}
	if err := e.Register(&engine.Template{Namespace: "chaos", Name: "order", Steps: []engine.StepTemplate{
		{Name: "validate", Handler: "effect", RetryLimit: 10},
		{Name: "charge", Handler: "effect", DependsOn: []string{"validate"}, RetryLimit: 10},
		{Name: "reserve", Handler: "effect", DependsOn: []string{"validate"}, RetryLimit: 10},
		{Name: "confirm", Handler: "effect", DependsOn: []string{"charge", "reserve"}, RetryLimit: 10},
	}}); err != nil {
		return err
	}
	effect := func(ctx context.Context) (string, error) {
		info, _ := engine.StepInfoFrom(ctx)
		l.Add(info.IdempotencyKey)
		return info.Name, nil
	}
	return engine.RegisterWorkflow(e, "chaos/flow", func(w *engine.WorkflowContext, n int) (string, error) {
		if _, err := engine.Step(w, "reserve", effect, engine.WithStepRetryLimit(10)); err != nil {
			return "", err
		}
		paid, err := engine.WaitEvent[int](w, "paid", time.Hour)
		if err != nil {
			return "", err
		}
		if paid != n {
			return "", engine.Permanent(fmt.Errorf("paid %d, want %d", paid, n))
		}
		return engine.Step(w, "ship", effect, engine.WithStepRetryLimit(10))
	})
}

// retrying calls f until it succeeds or fails for good, as a caller whose
// request timed out sends it again (Start and SendEvent are idempotent on
// their keys).
func retrying(f func() error) error {
	var err error
	for range 50 {
		if err = f(); err == nil || !errors.Is(err, store.ErrRetryable) {
			return err
		}
	}
	return err
}

// Start starts dags orders and flows flows (each start retried on a
// transient error, with its key), sends each flow its event (twice when
// resend, as a sender whose reply was lost), and returns the task ids.
func Start(ctx context.Context, e *engine.Engine, dags, flows int, resend bool) ([]int64, error) {
	var ids []int64
	for i := range dags {
		err := retrying(func() error {
			h, err := e.Start(ctx, "chaos/order", map[string]int{"n": i}, engine.WithIdempotencyKey(fmt.Sprint("order-", i)))
			if err == nil {
				ids = append(ids, h.TaskID)
			}
			return err
		})
		if err != nil {
			return ids, fmt.Errorf("starting order %d: %w", i, err)
		}
	}
	for i := range flows {
		var id int64
		err := retrying(func() error {
			h, err := engine.StartWorkflow[int, string](ctx, e, "chaos/flow", i, engine.WithIdempotencyKey(fmt.Sprint("flow-", i)))
			if err == nil {
				id = h.TaskID
			}
			return err
		})
		if err != nil {
			return ids, fmt.Errorf("starting flow %d: %w", i, err)
		}
		ids = append(ids, id)
		sends := 1
		if resend {
			sends = 2
		}
		for range sends {
			if err := retrying(func() error {
				_, err := e.SendEvent(ctx, id, "paid", fmt.Sprint("pay-", i), i)
				return err
			}); err != nil {
				return ids, fmt.Errorf("sending flow %d its event: %w", i, err)
			}
		}
	}
	return ids, nil
}

// Figures are what a scenario counts.
type Figures struct {
	Workflows         int
	Lost              int // not complete at the end
	DoubleCompletions int // steps with two moves to complete in their history
	Problems          []string
}

// Check checks the invariants on every task: it finished complete; every
// step's history has exactly one move to complete, every move legal and
// each row's state its latest move; every completed step's side effect ran
// at least once, under its idempotency key.
func Check(ctx context.Context, st store.Store, l *Ledger, ids []int64) (Figures, error) {
	f := Figures{Workflows: len(ids)}
	bad := func(format string, args ...any) { f.Problems = append(f.Problems, fmt.Sprintf(format, args...)) }
	for _, id := range ids {
		d, err := st.GetTask(ctx, id)
		if err != nil {
			return f, err
		}
		if d.Task.State != store.TaskComplete {
			f.Lost++
			bad("task %d (%s) is %s, want complete: %s", id, d.Task.Name, d.Task.State, d.Task.LastError)
			continue
		}
		h, err := st.History(ctx, id)
		if err != nil {
			return f, err
		}
		completions := map[int64]int{}
		latest := map[int64]string{}
		for _, tr := range h.Steps {
			if tr.FromState != nil {
				if err := store.CheckStepTransition(tr.StepID, store.StepState(*tr.FromState), store.StepState(tr.ToState)); err != nil {
					bad("task %d: illegal move in history: %v", id, err)
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
				bad("task %d step %s completed %d times in its history", id, s.Name, n)
			}
			if got, ok := latest[s.ID]; ok && got != string(s.State) {
				bad("task %d step %s is %s but its latest move is to %s", id, s.Name, s.State, got)
			}
			key := ""
			switch {
			case s.Sequence == nil && !strings.HasPrefix(s.Handler, engine.WorkflowHandlerPrefix):
				key = fmt.Sprintf("%d:%s", id, s.Name)
			case s.Handler == "workflow.step":
				key = fmt.Sprintf("%d:%d:%s", id, *s.Sequence, s.UserName())
			}
			if key != "" && s.State == store.StepComplete && l.Count(key) == 0 {
				bad("task %d step %s completed but its side effect (key %s) never ran", id, s.Name, key)
			}
		}
	}
	return f, nil
}
