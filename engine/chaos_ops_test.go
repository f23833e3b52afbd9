package engine_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// Operators fire cancel, retry and resolve at random at running tasks from
// four goroutines while workers run them: every command succeeds or is
// refused with a clear error (conflict, illegal move, not found); every
// task ends finished; every transition in the history is legal and each
// row's state is its latest transition; no step of a finished task is left
// running.
func TestOperatorChaos(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			const tasks = 80
			s := openChaosStore(t, db)
			e := newEngine(t, chaosConfig(s, "ops"))
			must(t, e.HandleFunc("flaky", func(sc *engine.StepContext) (any, error) {
				select { // a little work, so commands find steps running
				case <-time.After(time.Duration(rand.IntN(3)) * time.Millisecond):
				case <-sc.Context.Done():
					return nil, sc.Context.Err()
				}
				if rand.IntN(4) == 0 {
					return nil, errors.New("flaky")
				}
				return sc.Step, nil
			}))
			must(t, e.Register(&engine.Template{Namespace: "ops", Name: "flow", Steps: []engine.StepTemplate{
				{Name: "a", Handler: "flaky", RetryLimit: 2},
				{Name: "b", Handler: "flaky", DependsOn: []string{"a"}, RetryLimit: 2},
				{Name: "c", Handler: "flaky", DependsOn: []string{"b"}, RetryLimit: 2},
			}}))
			ctx := context.Background()
			ids := make([]int64, tasks)
			for i := range ids {
				h, err := e.Start(ctx, "ops/flow", map[string]int{"n": i})
				must(t, err)
				ids[i] = h.TaskID
			}
			done, err := e.RunBackground(ctx)
			must(t, err)
			var wg sync.WaitGroup
			var mu sync.Mutex
			counts := map[string]int{}
			for range 4 {
				wg.Go(func() {
					for range tasks / 2 {
						id := ids[rand.IntN(len(ids))]
						var err error
						op := []string{"cancel", "retry", "resolve"}[rand.IntN(3)]
						switch op {
						case "cancel":
							err = e.Cancel(ctx, id, "chaos")
						case "retry":
							err = e.Retry(ctx, id)
						case "resolve":
							err = e.Resolve(ctx, id, []string{"a", "b", "c"}[rand.IntN(3)], "by hand")
						}
						outcome := op + " ok"
						if err != nil {
							outcome = op + " refused"
							if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrIllegalTransition) && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrRetryable) {
								t.Errorf("%s task %d: unexpected error %v", op, id, err)
							}
						}
						mu.Lock()
						counts[outcome]++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			// Every task finishes: complete, error, cancelled or resolved.
			waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			for _, id := range ids {
				if _, err := e.Wait(waitCtx, id); err != nil {
					t.Fatalf("task %d: %v", id, err)
				}
			}
			must(t, e.Stop(ctx))
			<-done
			states := checkHistories(t, s, ids)
			t.Logf("commands %v; tasks ended %v", counts, states)
		})
	}
}

// checkHistories checks every task's audit trail against its rows and
// returns how many tasks ended in each state.
func checkHistories(t *testing.T, s store.Store, ids []int64) map[store.TaskState]int {
	t.Helper()
	ctx := context.Background()
	states := map[store.TaskState]int{}
	for _, id := range ids {
		d, err := s.GetTask(ctx, id)
		must(t, err)
		states[d.Task.State]++
		if !d.Task.State.Done() {
			t.Errorf("task %d is %s, not finished", id, d.Task.State)
		}
		h, err := s.History(ctx, id)
		must(t, err)
		last := ""
		for _, tr := range h.Task {
			if tr.FromState != nil {
				if err := store.CheckTaskTransition(id, store.TaskState(*tr.FromState), store.TaskState(tr.ToState), true); err != nil {
					t.Errorf("task %d: illegal move in history: %v", id, err)
				}
				if *tr.FromState != last {
					t.Errorf("task %d: move %s → %s follows a move to %s", id, *tr.FromState, tr.ToState, last)
				}
			}
			last = tr.ToState
		}
		if last != string(d.Task.State) {
			t.Errorf("task %d is %s but its latest move is to %s", id, d.Task.State, last)
		}
		steps := map[int64]string{}
		for _, tr := range h.Steps {
			from := string(store.StepPending)
			if tr.FromState != nil {
				from = *tr.FromState
				if err := store.CheckStepTransition(tr.StepID, store.StepState(from), store.StepState(tr.ToState)); err != nil {
					t.Errorf("task %d: illegal step move in history: %v", id, err)
				}
			}
			if prev, ok := steps[tr.StepID]; ok && prev != from {
				t.Errorf("task %d step %d: move %s → %s follows a move to %s", id, tr.StepID, from, tr.ToState, prev)
			}
			steps[tr.StepID] = tr.ToState
		}
		for _, st := range d.Steps {
			latest, ok := steps[st.ID]
			if !ok {
				latest = string(store.StepPending)
			}
			if latest != string(st.State) {
				t.Errorf("task %d step %s is %s but its latest move is to %s", id, st.Name, st.State, latest)
			}
			if st.State == store.StepInProgress {
				t.Errorf("task %d (%s) has step %s still running", id, d.Task.State, st.Name)
			}
		}
	}
	return states
}
