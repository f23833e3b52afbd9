package engine_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// sweptFailure reads a failure document the store's rescue wrote.
type sweptFailure struct {
	Message   string            `json:"error"`
	Kind      string            `json:"kind"`
	Reason    string            `json:"reason"`
	Diagnosis *engine.Diagnosis `json:"diagnosis"`
}

func decodeSwept(t *testing.T, doc store.JSON) sweptFailure {
	t.Helper()
	var f sweptFailure
	if err := json.Unmarshal(doc, &f); err != nil {
		t.Fatalf("failure document %s: %v", doc, err)
	}
	return f
}

// A task past its WithWorkflowTimeout that the rescue fails (its steps
// never claimed) is diagnosed as a deadline an attempt meets is: the
// store wrote the engine's cause, built once without a diagnosis.
func TestSweptWorkflowTimeoutIsDiagnosed(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "late", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}))
	h, err := env.Start(ctx, "t/late", nil, engine.WithWorkflowTimeout(time.Minute))
	must(t, err)
	env.Clock.Advance(2 * time.Minute)
	_, err = env.Rescue(ctx)
	must(t, err)
	d := env.Task(h.TaskID)
	if d.Task.State != store.TaskError {
		t.Fatalf("task %s, want failed by the rescue", d.Task.State)
	}
	f := decodeSwept(t, d.Task.LastError)
	if f.Kind != engine.KindWorkflowTimeout || f.Diagnosis == nil || f.Diagnosis.Class != "timeout" || !slices.Contains(f.Diagnosis.Rules, "timeout") ||
		len(f.Diagnosis.Suggestions) == 0 || !strings.Contains(f.Diagnosis.Suggestions[0], "WithWorkflowTimeout") {
		t.Fatalf("the swept task's failure %s; want workflow_timeout diagnosed by the timeout rule", d.Task.LastError)
	}
}

// A step whose lease expired is recorded with a failure document the
// engine's rules diagnosed (yours among them), and its task, failed when
// the step is out of attempts, carries it: the store wrote its own
// document, without a kind or a diagnosis.
func TestLeaseExpiryIsDiagnosed(t *testing.T) {
	ctx := context.Background()
	rule := engine.DiagnosisRule{Name: "lost_worker", Match: func(err error) bool { return strings.Contains(err.Error(), "lease expired") },
		Insight: "a worker died mid-attempt", Suggestions: []string{"look at the worker's logs"}}
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{DiagnosisRules: []engine.DiagnosisRule{rule}}})
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "once", Steps: []engine.StepTemplate{{Name: "s", Handler: "h", RetryLimit: 1}}}))
	h, err := env.Start(ctx, "t/once", nil)
	must(t, err)
	claimed, err := env.Store.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "gone", Limit: 10, LeaseTTL: time.Minute, Handlers: []string{"h"}, Now: env.Clock.Now()})
	must(t, err)
	if len(claimed) != 1 {
		t.Fatalf("claimed %d steps, want 1", len(claimed))
	}
	env.Clock.Advance(2 * time.Minute)
	_, err = env.Rescue(ctx)
	must(t, err)
	d := env.Task(h.TaskID)
	if d.Task.State != store.TaskError || len(d.Steps) != 1 {
		t.Fatalf("task %s, want failed by the rescue", d.Task.State)
	}
	for what, doc := range map[string]store.JSON{"step": d.Steps[0].LastError, "task": d.Task.LastError} {
		f := decodeSwept(t, doc)
		if !strings.Contains(f.Message, "lease expired") || f.Kind != engine.KindError || f.Reason != "lease_expired" || f.Diagnosis == nil ||
			!slices.Contains(f.Diagnosis.Rules, "lost_worker") || f.Diagnosis.System.MaxConcurrency == 0 {
			t.Fatalf("the %s's failure %s; want the lease's expiry, diagnosed (rule lost_worker, the system's state)", what, doc)
		}
	}
}
