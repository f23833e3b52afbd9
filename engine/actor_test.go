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
	// Nor one that is not UTF-8, nor a cancel reason that is not: JSON
	// recorded them with U+FFFD in place of the bad bytes, another name.
	for actor, want := range map[string]string{
		"ops\x00bot": `WithActor: the actor "ops\x00bot" contains a NUL byte`,
		"ops\xffbot": `WithActor: the actor "ops\xffbot" is not UTF-8`,
	} {
		actx := engine.WithActor(ctx, actor)
		for name, call := range map[string]func() error{
			"Retry":   func() error { return env.Retry(actx, h.TaskID) },
			"Resolve": func() error { return env.Resolve(actx, h.TaskID, "s", 1) },
			"Cancel":  func() error { return env.Cancel(actx, h.TaskID, "r") },
		} {
			err := call()
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s with the actor %q: %v, want store.ErrInvalid saying %s", name, actor, err, want)
			}
		}
	}
	if err := env.Cancel(ctx, h.TaskID, "bad\xffreason"); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `the reason "bad\xffreason" is not UTF-8`) {
		t.Errorf("Cancel with a reason not UTF-8: %v", err)
	}
	if st := env.Task(h.TaskID).Task.State; st != store.TaskError {
		t.Fatalf("refused actions moved the task to %s", st)
	}
}
