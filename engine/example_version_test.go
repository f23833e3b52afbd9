package engine_test

import (
	"context"
	"fmt"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// dispatch is the README's versioned workflow, verbatim (internal/readmetest
// checks that they match).
func dispatch(w *engine.WorkflowContext, order string) (string, error) {
	// v1 shipped at once; v2 screens for fraud first. A workflow whose history
	// was recorded by v1 gets DefaultVersion here and keeps v1's path.
	if engine.Version(w, "fraud-screen", engine.DefaultVersion, 1) >= 1 {
		if _, err := engine.Step(w, "screen", func(ctx context.Context) (bool, error) { return true, nil }); err != nil {
			return "", err
		}
	}
	return engine.Step(w, "ship", func(ctx context.Context) (string, error) { return "shipped " + order, nil })
}

// Version records which side of a code change a workflow run took; the
// history shows the recorded version before the new step.
func ExampleVersion() {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	e, err := engine.New(engine.Config{Store: s})
	if err != nil {
		panic(err)
	}
	err = engine.RegisterWorkflow(e, "shop/dispatch", func(w *engine.WorkflowContext, order string) (string, error) {
		return dispatch(w, order)
	})
	if err != nil {
		panic(err)
	}
	go e.Run(ctx)
	defer e.Stop(ctx)
	h, err := engine.StartWorkflow[string, string](ctx, e, "shop/dispatch", "o-1")
	if err != nil {
		panic(err)
	}
	out, err := h.Result(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	hist, err := e.WorkflowHistory(ctx, h.TaskID)
	if err != nil {
		panic(err)
	}
	for _, st := range hist.Steps {
		fmt.Println(st.Sequence, st.Kind, st.Name, string(st.Results))
	}
	// A pre-deploy check: replay the recorded history against the code.
	fmt.Println("replay:", e.Replay(ctx, h.TaskID))
	// Output:
	// shipped o-1
	// 1 version fraud-screen {"version":1}
	// 2 step screen true
	// 3 step ship "shipped o-1"
	// replay: <nil>
}
