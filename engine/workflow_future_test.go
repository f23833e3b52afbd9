package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// Futures take their sequence numbers when Go is called, so a run that
// stops while earlier futures are still running leaves a gap: the later
// future is recorded, the earlier ones are not. This test makes that
// happen (a hard stop while futures 1 and 2 run and 3 is recorded) and
// shows it is harmless: the resumed run takes the same numbers in the same
// order, runs 1 and 2 into the gap, returns 3's recorded result without
// running it, and the history ends gap-free and replays.
func TestWorkflowFutureGapAfterStopIsFilled(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gap.db"), nil)
	must(t, err)
	defer s.Close()
	var mu sync.Mutex
	ran := map[string]int{}
	block := true
	register := func(e *engine.Engine) {
		must(t, engine.RegisterWorkflow(e, "t/gap", func(wctx *engine.WorkflowContext, in struct{}) (string, error) {
			var fs []*engine.Future[string]
			for i := range 3 {
				fs = append(fs, engine.Go(wctx, fmt.Sprint("part", i+1), func(ctx context.Context) (string, error) {
					mu.Lock()
					ran[fmt.Sprint("part", i+1)]++
					wait := block && i < 2
					mu.Unlock()
					if wait { // parts 1 and 2 run until the engine stops
						<-ctx.Done()
						return "", ctx.Err()
					}
					return fmt.Sprint("p", i+1), nil
				}))
			}
			parts, err := engine.All(fs...)
			if err != nil {
				return "", err
			}
			last, err := engine.Step(wctx, "after", func(ctx context.Context) (string, error) { return "a", nil })
			return fmt.Sprint(parts, last), err
		}))
	}
	sequences := func(id int64) []int {
		d, err := s.GetTask(ctx, id)
		must(t, err)
		var seqs []int
		for _, st := range d.Steps {
			if st.Sequence != nil && st.State == store.StepComplete {
				seqs = append(seqs, *st.Sequence)
			}
		}
		slices.Sort(seqs)
		return seqs
	}
	cfg := engine.Config{Store: s, Execution: engine.ExecutionConfig{LeaseTTL: time.Second, RescueInterval: 50 * time.Millisecond, PollInterval: 20 * time.Millisecond}}

	e, err := engine.New(cfg)
	must(t, err)
	register(e)
	h, err := engine.StartWorkflow[struct{}, string](ctx, e, "t/gap", struct{}{})
	must(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	// Wait (on the database) until part 3 is recorded, then stop hard.
	for deadline := time.Now().Add(10 * time.Second); !slices.Equal(sequences(h.TaskID), []int{3}); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("part 3 was not recorded alone: %v", sequences(h.TaskID))
		}
	}
	stop()
	must(t, <-done)
	if got := sequences(h.TaskID); !slices.Equal(got, []int{3}) {
		t.Fatalf("after the stop the recorded sequences are %v, want the gap [3]", got)
	}

	mu.Lock()
	block = false
	mu.Unlock()
	e2, err := engine.New(cfg)
	must(t, err)
	register(e2)
	run(t, e2)
	got, err := engine.GetWorkflow[string](e2, h.TaskID).Result(ctx)
	must(t, err)
	if got != "[p1 p2 p3]a" {
		t.Fatalf("result %q", got)
	}
	if seqs := sequences(h.TaskID); !slices.Equal(seqs, []int{1, 2, 3, 4}) {
		t.Fatalf("recorded sequences %v, want 1..4", seqs)
	}
	mu.Lock()
	defer mu.Unlock()
	if ran["part3"] != 1 || ran["part1"] != 2 || ran["part2"] != 2 {
		t.Fatalf("executions %v: part 3 (recorded) must run once, parts 1 and 2 twice", ran)
	}
	must(t, e2.Replay(ctx, h.TaskID))
}
