package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// A step that makes one attempt (NotRetryable) is explained as such:
// running attempt 1 of 1, failed after attempt 1 of 1; not "of 3", the
// default retry limit stored for it, which it never uses.
func TestExplainOfAStepThatRunsOnce(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	must(t, env.HandleFunc("once", func(sc *engine.StepContext) (any, error) {
		close(entered)
		<-release
		return nil, errors.New("the ledger refused")
	}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "once", Steps: []engine.StepTemplate{
		{Name: "post", Handler: "once", NotRetryable: true}}}))
	h, err := env.Start(ctx, "t/once", nil)
	must(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := env.RunOnce(ctx); err != nil {
			t.Errorf("RunOnce: %v", err)
		}
	})
	<-entered
	s := explainStep(t, env.Engine, h.TaskID, "post")
	wantKind(t, s, engine.ExplainLeased, "running attempt 1 of 1 ")
	if s.Attempt != 1 || s.MaxAttempts != 1 {
		t.Fatalf("lease explained as attempt %d of %d, want 1 of 1", s.Attempt, s.MaxAttempts)
	}
	close(release)
	wg.Wait()
	env.RunUntilDone(h.TaskID)
	s = explainStep(t, env.Engine, h.TaskID, "post")
	wantKind(t, s, engine.ExplainFailed, "failed for good after attempt 1 of 1: the ledger refused")
	if s.Attempt != 1 || s.MaxAttempts != 1 {
		t.Fatalf("failure explained as attempt %d of %d, want 1 of 1", s.Attempt, s.MaxAttempts)
	}
}
