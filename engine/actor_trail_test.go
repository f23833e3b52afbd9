package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// Every transition an operator action writes names its actor, as
// WithActor promises: Retry's task move and the moves of the steps it
// retries; Resolve's step move and the task's moves it brings about (error
// → pending, pending → in_progress → complete).
func TestOperatorActionsRecordTheirActorOnEveryMove(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, env.HandleFunc("fail", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("no")) }))
	must(t, env.Register(&engine.Template{Namespace: "a", Name: "b", Steps: []engine.StepTemplate{{Name: "s", Handler: "fail"}}}))
	h, err := env.Start(ctx, "a/b", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)

	// checkSince fails for each transition written after the first n of
	// the task's and its steps' that does not name actor.
	counts := func() (int, int) {
		hist, err := env.Store.History(ctx, h.TaskID)
		must(t, err)
		return len(hist.Task), len(hist.Steps)
	}
	checkSince := func(action string, nt, ns int, actor string) {
		t.Helper()
		hist, err := env.Store.History(ctx, h.TaskID)
		must(t, err)
		var metas []store.JSON
		var what []string
		for _, tr := range hist.Task[nt:] {
			metas, what = append(metas, tr.Metadata), append(what, "task "+tr.ToState)
		}
		for _, tr := range hist.Steps[ns:] {
			metas, what = append(metas, tr.Metadata), append(what, "step "+tr.ToState)
		}
		if len(metas) == 0 {
			t.Fatalf("%s wrote no transition", action)
		}
		for i, m := range metas {
			var doc struct {
				Actor string `json:"actor"`
			}
			_ = json.Unmarshal(m, &doc)
			if doc.Actor != actor {
				t.Errorf("%s: the move to %s has metadata %s, without actor %q", action, what[i], m, actor)
			}
		}
	}

	nt, ns := counts()
	must(t, env.Retry(engine.WithActor(ctx, "alice"), h.TaskID))
	checkSince("Retry", nt, ns, "alice")

	env.RunUntilDone(h.TaskID)
	nt, ns = counts()
	must(t, env.Resolve(engine.WithActor(ctx, "bob"), h.TaskID, "s", "done by hand"))
	checkSince("Resolve", nt, ns, "bob")
	if st := env.Task(h.TaskID).Task.State; st != store.TaskComplete {
		t.Fatalf("task %s after the resolve, want complete", st)
	}
}
