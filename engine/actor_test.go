package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// An actor the transition's metadata cannot hold (a NUL byte) is refused
// naming WithActor, as a reason with one is, before anything is asked of
// the store; the store refused it in its own words about the metadata.
func TestOperatorActionsRefuseAnActorWithANUL(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("fail", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("no")) }))
	must(t, env.Register(&engine.Template{Namespace: "a", Name: "b", Steps: []engine.StepTemplate{{Name: "s", Handler: "fail"}}}))
	ctx := context.Background()
	h, err := env.Start(ctx, "a/b", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	actx := engine.WithActor(ctx, "ops\x00bot")
	for name, call := range map[string]func() error{
		"Retry":   func() error { return env.Retry(actx, h.TaskID) },
		"Resolve": func() error { return env.Resolve(actx, h.TaskID, "s", 1) },
		"Cancel":  func() error { return env.Cancel(actx, h.TaskID, "r") },
	} {
		err := call()
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `WithActor: the actor "ops\x00bot" contains a NUL byte`) {
			t.Errorf("%s with a NUL in the actor: %v, want store.ErrInvalid naming WithActor's actor", name, err)
		}
	}
	if st := env.Task(h.TaskID).Task.State; st != store.TaskError {
		t.Fatalf("refused actions moved the task to %s", st)
	}
}
