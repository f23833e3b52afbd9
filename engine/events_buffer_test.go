package engine_test

import (
	"context"
	"math"
	"testing"

	"github.com/tasker-go/tasker/engine"
)

// TestSubscribeHugeBufferIsClamped: a buffer past MaxSubscribeBuffer gets
// MaxSubscribeBuffer, so Subscribe(math.MaxInt) neither panics in make nor
// asks for more memory than the machine has; the subscription still works.
func TestSubscribeHugeBufferIsClamped(t *testing.T) {
	e := newEngine(t, engine.Config{})
	for _, buffer := range []int{engine.MaxSubscribeBuffer + 1, math.MaxInt} {
		events, stop := e.Subscribe(buffer)
		if got := cap(events); got != engine.MaxSubscribeBuffer {
			stop()
			t.Fatalf("Subscribe(%d): buffer %d, want MaxSubscribeBuffer (%d)", buffer, got, engine.MaxSubscribeBuffer)
		}
		stop()
	}
	events, stop := e.Subscribe(engine.MaxSubscribeBuffer)
	defer stop()
	if got := cap(events); got != engine.MaxSubscribeBuffer {
		t.Fatalf("Subscribe(MaxSubscribeBuffer): buffer %d, want it whole", got)
	}
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.Register(&engine.Template{Namespace: "b", Name: "big", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}))
	h, err := e.Start(context.Background(), "b/big", nil)
	must(t, err)
	if ev := <-events; ev.Name != engine.EventTaskStarted || ev.TaskID != h.TaskID {
		t.Fatalf("first event %+v, want task.started of task %d", ev, h.TaskID)
	}
}
