package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// RunOnce runs at most ExecutionConfig.MaxConcurrency handlers at once, as
// Run does: a batch of ten ready steps under a limit of two runs two at a
// time. Each handler waits (up to a bound) for a third to join it: one
// ever joining is the limit exceeded.
func TestRunOnceKeepsMaxConcurrency(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Execution: engine.ExecutionConfig{MaxConcurrency: 2, BatchSize: 10}}})
	var mu sync.Mutex
	running, peak := 0, 0
	crowded := make(chan struct{})
	oneStep(t, env.Engine, "work", func(*engine.StepContext) (any, error) {
		mu.Lock()
		running++
		if running > peak {
			peak = running
			if peak == 3 {
				close(crowded)
			}
		}
		mu.Unlock()
		select { // a third handler, were it let in, would arrive meanwhile
		case <-crowded:
		case <-time.After(100 * time.Millisecond):
		}
		mu.Lock()
		running--
		mu.Unlock()
		return nil, nil
	}, engine.StepTemplate{})
	for n := range 10 {
		mustStart(t, env.Engine, "t/work", map[string]int{"n": n})
	}
	n, err := env.RunOnce(ctx)
	must(t, err)
	if n != 10 || peak > 2 {
		t.Fatalf("RunOnce ran %d steps, up to %d at once; want 10, at most MaxConcurrency 2", n, peak)
	}
}
