package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// NewStepContext refuses a negative Attempt, TaskID or StepID, naming the
// field and the value; an Attempt of 0 is the default, attempt 1.
func TestNewStepContextAttempt(t *testing.T) {
	_, err := engine.NewStepContext(context.Background(), engine.StepContextParams{TaskID: 1, Step: "s", Attempt: -2})
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "Attempt") || !strings.Contains(err.Error(), "-2") {
		t.Fatalf("negative attempt: %v, want store.ErrInvalid naming Attempt and -2", err)
	}
	_, err = engine.NewStepContext(context.Background(), engine.StepContextParams{TaskID: -1, StepID: -7, Step: "s"})
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "TaskID") || !strings.Contains(err.Error(), "StepID must not be negative, got -7") {
		t.Fatalf("negative ids: %v, want store.ErrInvalid naming TaskID and StepID", err)
	}
	for give, want := range map[int]int{0: 1, 1: 1, 3: 3} {
		sc, err := engine.NewStepContext(context.Background(), engine.StepContextParams{TaskID: 1, Step: "s", Attempt: give})
		if err != nil || sc.Attempt != want {
			t.Fatalf("attempt %d: %v, %v; want attempt %d", give, sc, err, want)
		}
	}
}
