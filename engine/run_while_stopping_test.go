package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
)

// A Run refused because a stopped run still waits for a handler that
// ignores cancellation says so: "engine is already running" alone, after
// a Stop, told the caller nothing of what held it.
func TestRunWhileAStoppedRunWaitsForItsHandlers(t *testing.T) {
	e := newEngine(t, engine.Config{})
	started, release := make(chan struct{}), make(chan struct{})
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { close(started); <-release; return 1, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "stuck", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	done, err := e.RunBackground(context.Background())
	must(t, err)
	_, err = e.Start(context.Background(), "t/stuck", nil)
	must(t, err)
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop: %v, want its context's error", err)
	}
	err = e.Run(context.Background())
	if !errors.Is(err, engine.ErrRunning) || !strings.Contains(err.Error(), "waits for 1 handler to return") {
		t.Errorf("Run: %v, want ErrRunning naming the handler the stopped run waits for", err)
	}
	close(release)
	must(t, <-done)
}
