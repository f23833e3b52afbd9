package engine_test

import (
	"context"
	"encoding/json"
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

// NewStepContext refuses what no claimed step carries: an Input that is
// not a JSON object (Start refuses any other), and a Config or a
// dependency's result that is not JSON, naming each; a nil Input is the
// input of a task started with none ({}). Before, each was taken, and the
// handler failed decoding it, far from the mistake, or passed on an input
// no task has.
func TestNewStepContextRefusesWhatNoStepCarries(t *testing.T) {
	for _, c := range []struct {
		p    engine.StepContextParams
		want string
	}{
		{engine.StepContextParams{Input: json.RawMessage(`"order 42"`)}, `StepContextParams.Input is "order 42", not a JSON object`},
		{engine.StepContextParams{Input: json.RawMessage(`{"a":`)}, `StepContextParams.Input is not valid JSON`},
		{engine.StepContextParams{Config: json.RawMessage(`{gateway: x}`)}, `StepContextParams.Config is not valid JSON`},
		{engine.StepContextParams{Deps: map[string]json.RawMessage{"quote": json.RawMessage(`{amount`)}}, `StepContextParams.Deps["quote"] is not valid JSON`},
		{engine.StepContextParams{Workflow: "shop/order@1.0.0"}, `StepContextParams.Workflow "shop/order@1.0.0" is not "namespace/name"`},
		{engine.StepContextParams{Workflow: "order"}, `StepContextParams.Workflow "order" is not "namespace/name"`},
	} {
		_, err := engine.NewStepContext(context.Background(), c.p)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewStepContext(%+v): %v, want store.ErrInvalid containing %q", c.p, err, c.want)
		}
	}
	sc, err := engine.NewStepContext(context.Background(), engine.StepContextParams{Deps: map[string]json.RawMessage{"none": nil}})
	if err != nil {
		t.Fatal(err)
	}
	var in struct{ OrderID int }
	if err := sc.Input(&in); err != nil {
		t.Fatalf("Input of a StepContext without one: %v, want the empty object a task started with nil has", err)
	}
}
