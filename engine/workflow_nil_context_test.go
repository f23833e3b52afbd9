package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// TestNilWorkflowContextFailsTheWorkflowSayingSo: a durable operation
// given a nil *WorkflowContext (a helper called with nil, a field never
// set) dereferenced it: "nil pointer dereference", a panic retried as a
// bug ten times before the workflow failed. It now fails the workflow
// permanently, on its first attempt, naming the call and where it is.
func TestNilWorkflowContextFailsTheWorkflowSayingSo(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	var nilw *engine.WorkflowContext
	one := func(context.Context) (int, error) { return 1, nil }
	for name, call := range map[string]func(){
		"engine.Step":               func() { _, _ = engine.Step(nilw, "a", one) },
		"engine.Go":                 func() { engine.Go(nilw, "a", one) },
		"engine.Sleep":              func() { _ = engine.Sleep(nilw, time.Second) },
		"engine.SleepUntil":         func() { _ = engine.SleepUntil(nilw, time.Now()) },
		"engine.WaitEvent":          func() { _, _ = engine.WaitEvent[int](nilw, "e", time.Hour) },
		"engine.ReceiveUpdate":      func() { _, _ = engine.ReceiveUpdate[int](nilw, "u", time.Hour) },
		"engine.Child":              func() { _, _ = engine.Child[int](nilw, "t/other", 1) },
		"engine.Version":            func() { engine.Version(nilw, "change", engine.DefaultVersion, 1) },
		"engine.NewTimer":           func() { engine.NewTimer(nilw, time.Hour) },
		"engine.Select":             func() { _, _ = engine.Select(nilw, engine.OnEvent[int]("e", nil)) },
		"engine.SetQueryState":      func() { _ = engine.SetQueryState(nilw, "q", 1) },
		"engine.ContinueAsNew":      func() { _ = engine.ContinueAsNew(nilw, 1) },
		"WorkflowContext.Now":       func() { nilw.Now() },
		"WorkflowContext.Replaying": func() { nilw.Replaying() },
	} {
		wf := "t/nil-" + strings.ToLower(name[strings.LastIndexByte(name, '.')+1:])
		must(t, engine.RegisterWorkflow(env.Engine, wf, func(wctx *engine.WorkflowContext, in int) (int, error) {
			call() // the error, when there is one, dropped: the call alone fails the workflow
			return 0, nil
		}))
		h, err := engine.StartWorkflow[int, int](ctx, env.Engine, wf, 1)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || te.Failure.Attempt != 1 {
			t.Errorf("%s(nil): %v, want a permanent failure on the first attempt", name, err)
			continue
		}
		if want := name + " called with a nil *WorkflowContext at workflow_nil_context_test.go:"; !strings.Contains(err.Error(), want) {
			t.Errorf("%s(nil): %v, want it to say %q", name, err, want)
		}
	}
}
