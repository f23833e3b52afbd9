package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/testkit"
)

// The predictive retry's history of a step is that of the same step of
// the same workflow: it counted every step of the name, whatever its
// workflow, so a workflow's "call" that had never run before was weighed
// by another workflow's ten runs of its own "call" (10/10, factor 0.8),
// and so was a code-first workflow's first durable step by another's.
func TestPredictiveRetryHistoryIsTheWorkflows(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	backoff := retry.Policy{Base: 20 * time.Second, NoJitter: true}
	must(t, env.HandleFunc("h", failOnce(errors.New("boom"))))
	for _, name := range []string{"ran", "new"} {
		must(t, env.Register(&engine.Template{Namespace: "t", Name: name, Steps: []engine.StepTemplate{{Name: "call", Handler: "h", Backoff: backoff}}}))
	}
	var ids []int64
	for i := range 10 {
		hd, err := env.Start(context.Background(), "t/ran", map[string]int{"n": i})
		must(t, err)
		ids = append(ids, hd.TaskID)
	}
	registerFailsOnce(t, env.Engine, "t/durran", engine.WithStepBackoff(backoff))
	registerFailsOnce(t, env.Engine, "t/durnew", engine.WithStepBackoff(backoff))
	env.RunUntilDone(append(ids, startInts(t, env.Engine, "t/durran", 10)...)...)
	must(t, env.SetToggle(context.Background(), cachex.TogglePredictiveRetry, true))

	hd, err := env.Start(context.Background(), "t/new", nil)
	must(t, err)
	w, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "t/durnew", 0)
	must(t, err)
	if _, err := env.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	ex, err := env.Explain(context.Background(), hd.TaskID)
	must(t, err)
	if b := ex.Steps[0].Backoff; b == nil || b.HistoryAttempts != 0 || b.HistoryFactor != 1 {
		t.Fatalf("t/new's first retry: decision %+v, want no history (t/ran's steps are another workflow's)", b)
	}
	var doc struct {
		Backoff *engine.BackoffDecision `json:"backoff"`
	}
	for _, s := range env.Task(w.TaskID).Steps {
		if s.Name == "call#1" {
			must(t, json.Unmarshal(s.LastError, &doc))
		}
	}
	if b := doc.Backoff; b == nil || b.HistoryAttempts != 0 || b.HistoryFactor != 1 {
		t.Fatalf("t/durnew's first retry: decision %+v, want no history (t/durran's steps are another workflow's)", b)
	}
	// The workflow's own history still counts.
	hd, err = env.Start(context.Background(), "t/ran", map[string]int{"n": 100})
	must(t, err)
	if _, err := env.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	ex, err = env.Explain(context.Background(), hd.TaskID)
	must(t, err)
	if b := ex.Steps[0].Backoff; b == nil || b.HistoryAttempts != 10 || b.HistorySucceeded != 10 || b.HistoryFactor != 0.8 {
		t.Fatalf("t/ran's retry: decision %+v, want its 10 runs, all complete at attempt 2", b)
	}
}
