package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// The engine's own rules recognise an attempt whose lease expired: its
// failure was diagnosed with no rule, insight or suggestion (class
// unknown), unless the application wrote a rule of its own, though why a
// lease expires and what to do about it is the engine's to say.
func TestLeaseExpiryIsDiagnosedByTheEngine(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "lost", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}))
	h, err := env.Start(ctx, "t/lost", nil)
	must(t, err)
	claimed, err := env.Store.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "gone", Limit: 10, LeaseTTL: time.Minute, Handlers: []string{"h"}, Now: env.Clock.Now()})
	must(t, err)
	if len(claimed) != 1 {
		t.Fatalf("claimed %d steps, want 1", len(claimed))
	}
	env.Clock.Advance(2 * time.Minute)
	_, err = env.Rescue(ctx)
	must(t, err)
	f := decodeSwept(t, env.Task(h.TaskID).Steps[0].LastError)
	d := f.Diagnosis
	if f.Reason != "lease_expired" || d == nil || !slices.Contains(d.Rules, "lease_expired") || len(d.Insights) == 0 ||
		!strings.Contains(d.Insights[0], "stopped renewing its lease") ||
		!slices.ContainsFunc(d.Suggestions, func(s string) bool { return strings.Contains(s, "LeaseTTL") }) {
		t.Fatalf("the expired attempt's failure %+v; want it diagnosed by the engine's lease_expired rule", f)
	}
}
