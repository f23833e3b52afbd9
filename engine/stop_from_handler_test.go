package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// A handler that stops its engine with its own context (a "shut down"
// step) gets Stop's answer at once, and the run ends once it returns:
// Stop waited for the run's handlers, this one among them, which waited
// for Stop — the engine hung for ever, and so did any other Stop.
func TestStopFromAHandler(t *testing.T) {
	e := newEngine(t, engine.Config{})
	stopped := make(chan error, 1)
	must(t, e.HandleFunc("h", func(sc *engine.StepContext) (any, error) { stopped <- e.Stop(sc.Context); return 1, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "stop", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	done, err := e.RunBackground(context.Background())
	must(t, err)
	h, err := e.Start(context.Background(), "t/stop", nil)
	must(t, err)
	// The timeouts only turn a hang into a failure.
	select {
	case err := <-stopped:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Stop called from a handler does not return")
	}
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the run does not end after a handler stopped it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := h.Wait(ctx)
	must(t, err)
	if o.State != store.TaskComplete {
		t.Errorf("task %s, want complete: the handler's result is recorded", o.State)
	}
}
