package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// review is the README's Select workflow, verbatim (internal/readmetest
// checks that they match): approved within three days, or escalated.
func review(w *engine.WorkflowContext, doc string) (string, error) {
	deadline := engine.NewTimer(w, 72*time.Hour) // recorded: a replay sees the same deadline
	var approver string
	i, err := engine.Select(w, engine.OnEvent("approve", &approver), engine.OnTimer(deadline))
	if err != nil {
		return "", err
	}
	if i == 1 { // three days and no approval
		return engine.Step(w, "escalate", func(ctx context.Context) (string, error) { return doc + " escalated", nil })
	}
	return doc + " approved by " + approver, nil
}

// A document approved before its three days are up; the choice is recorded,
// so a replay takes the same branch whatever arrives later.
func ExampleSelect() {
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
	err = engine.RegisterWorkflow(e, "docs/review", func(w *engine.WorkflowContext, doc string) (string, error) {
		return review(w, doc)
	})
	if err != nil {
		panic(err)
	}
	go e.Run(ctx)
	defer e.Stop(ctx)
	h, err := engine.StartWorkflow[string, string](ctx, e, "docs/review", "contract-7")
	if err != nil {
		panic(err)
	}
	if _, err := e.SendEvent(ctx, h.TaskID, "approve", "ann-1", "ann"); err != nil {
		panic(err)
	}
	out, err := h.Result(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	// Output: contract-7 approved by ann
}
