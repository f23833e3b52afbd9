package engine_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A worker whose lease expired (the clock moved past it) finishes late: the
// store refuses its result and the real, later completion stands; the
// step.result_discarded event says why (it had no Error).
func TestZombieCompletionIsRefused(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Execution: engine.ExecutionConfig{LeaseTTL: time.Minute}}})
	entered := make(chan struct{})
	release := make(chan struct{})
	must(t, env.HandleFunc("h", func(sc *engine.StepContext) (any, error) {
		if sc.Attempt == 1 {
			close(entered)
			<-release // stalls past its lease, like a paused process
			return "zombie", nil
		}
		return "real", nil
	}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "z", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}))
	events, unsubscribe := env.Subscribe(64)
	defer unsubscribe()
	h, err := env.Start(context.Background(), "t/z", nil)
	must(t, err)

	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := env.RunOnce(context.Background()); err != nil {
			t.Errorf("zombie worker: %v", err)
		}
	})
	<-entered
	env.Clock.Advance(2 * time.Minute)
	if n, err := env.Rescue(context.Background()); err != nil || n != 1 {
		t.Fatalf("rescued %d steps, want the stalled one", n)
	}
	// A second worker on the same store runs attempt 2 to completion.
	second, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock.Fake, WorkerID: "second"})
	must(t, err)
	must(t, second.HandleFunc("h", func(sc *engine.StepContext) (any, error) { return "real", nil }))
	if n, err := second.RunOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("second worker ran %d: %v", n, err)
	}
	close(release)
	wg.Wait()

	d := env.Task(h.TaskID)
	if d.Task.State != store.TaskComplete || string(d.Steps[0].Results) != `"real"` {
		t.Fatalf("task %s with results %s; want complete with the real result", d.Task.State, d.Steps[0].Results)
	}
	if got := env.Stats().ResultsDiscarded; got != 1 {
		t.Fatalf("discarded %d results, want the zombie's", got)
	}
	var discarded []engine.Event
	for len(events) > 0 {
		if ev := <-events; ev.Name == engine.EventStepDiscarded {
			discarded = append(discarded, ev)
		}
	}
	if len(discarded) != 1 || discarded[0].Attempt != 1 || !strings.Contains(discarded[0].Error, "lease lost") {
		t.Fatalf("step.result_discarded events %+v; want the zombie's (attempt 1), its Error naming the lost lease", discarded)
	}
	env.AssertStepHistory(h.TaskID, "s", "pending → in_progress", "in_progress → pending", "pending → in_progress", "in_progress → complete")
}
