package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
)

// Run is refused while RunOnce runs, as RunOnce is while Run does: the
// engine is either run or stepped. Accepted, the Run claimed beside the
// RunOnce, and its Stop did not stop the RunOnce's handlers.
func TestRunRefusedDuringRunOnce(t *testing.T) {
	e := newEngine(t, engine.Config{})
	started, release := make(chan struct{}), make(chan struct{})
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { close(started); <-release; return 1, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "step", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	_, err := e.Start(context.Background(), "t/step", nil)
	must(t, err)
	once := make(chan error, 1)
	go func() { _, err := e.RunOnce(context.Background()); once <- err }()
	<-started
	done, err := e.RunBackground(context.Background())
	if !errors.Is(err, engine.ErrRunning) || !strings.Contains(err.Error(), "RunOnce") {
		t.Errorf("RunBackground during RunOnce: %v, want ErrRunning naming RunOnce", err)
	}
	if done != nil {
		must(t, e.Stop(context.Background()))
		<-done
	}
	close(release)
	must(t, <-once)
}
