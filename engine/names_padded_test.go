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

// A name with spaces around it (" default", "shop ") is refused where it
// is given, naming the field and the value: the admin API refuses such a
// filter, so a task on queue " default" could never be listed by it.
func TestPaddedNamesRefused(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("ok", noop))
	check := func(what string, err error, wants ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: accepted", what)
			return
		}
		for _, w := range append(wants, "has spaces around it") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not mention %q", what, err, w)
			}
		}
	}
	step := []engine.StepTemplate{{Name: "a", Handler: "ok"}}
	check("namespace", env.Register(&engine.Template{Namespace: "shop ", Name: "x", Steps: step}), "namespace", `"shop "`)
	check("name", env.Register(&engine.Template{Namespace: "shop", Name: " x", Steps: step}), "name", `" x"`)
	check("queue", env.Register(&engine.Template{Namespace: "shop", Name: "x", Queue: " default", Steps: step}), "queue", `" default"`)
	check("step name", env.Register(&engine.Template{Namespace: "shop", Name: "x", Steps: []engine.StepTemplate{{Name: "a\t", Handler: "ok"}}}), "step name", `"a\t"`)
	check("handler", env.Register(&engine.Template{Namespace: "shop", Name: "x", Steps: []engine.StepTemplate{{Name: "a", Handler: " ok"}}}), "handler", `" ok"`)
	check("handler name", env.HandleFunc("ok2 ", noop), "handler name", `"ok2 "`)
	wf := func(*engine.WorkflowContext, int) (int, error) { return 0, nil }
	check("workflow namespace", engine.RegisterWorkflow(env.Engine, " w/x", wf), "namespace", `" w"`)
	check("workflow name", engine.RegisterWorkflow(env.Engine, "w/x ", wf), "name", `"x "`)
	if got := env.Templates(); len(got) != 0 {
		t.Fatalf("refused templates were registered: %v", got)
	}
	_, err := engine.New(engine.Config{Store: testkit.NewEngine(t, nil).Store, Execution: engine.ExecutionConfig{Queues: []string{"mail", "default "}}})
	check("config queue", err, "queues[1]", `"default "`)

	must(t, env.Register(&engine.Template{Namespace: "shop", Name: "x", Steps: step}))
	_, err = env.Start(context.Background(), "shop/x", nil, engine.WithQueue(" mail"))
	check("WithQueue", err, "WithQueue", `" mail"`)
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("WithQueue: %v, want store.ErrInvalid", err)
	}
	assertNothingWritten(t, env)

	// A concurrency group is data, as a key is: kept as given.
	if _, err := env.Start(context.Background(), "shop/x", nil, engine.WithConcurrency(" g", 1)); err != nil {
		t.Fatalf("WithConcurrency(\" g\", 1): %v, want the group kept as given", err)
	}
}
