package engine_test

import (
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
)

// TestRegisterRefusesAPredictiveRetryWithNothingToRetry: PredictiveRetry
// weighs the delay before a step's next attempt; on a template whose every
// step makes one attempt (NotRetryable, RetryLimit 1) it weighed nothing,
// and Register took it without a word. It is refused as a backoff on such
// a step is, naming the field; one step that retries is enough.
func TestRegisterRefusesAPredictiveRetryWithNothingToRetry(t *testing.T) {
	e := newEngine(t, engine.Config{})
	t.Cleanup(func() { e.Close() })
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	err := e.Register(&engine.Template{Namespace: "t", Name: "once", PredictiveRetry: true, Steps: []engine.StepTemplate{
		{Name: "a", Handler: "h", NotRetryable: true}, {Name: "b", Handler: "h", RetryLimit: 1}}})
	ps := engine.TemplateProblems(err)
	if len(ps) != 1 || ps[0].Path != "predictive_retry" || !strings.Contains(ps[0].Msg, "no step of the template retries") {
		t.Fatalf("predictive retry with no step retrying: %v", err)
	}
	if got := e.Templates(); len(got) != 0 {
		t.Fatalf("a refused registration registered %v", got)
	}
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "some", PredictiveRetry: true, Steps: []engine.StepTemplate{
		{Name: "a", Handler: "h", NotRetryable: true}, {Name: "b", Handler: "h"}}}))
}
