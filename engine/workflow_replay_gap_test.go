package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A history with a gap (a Go future that took its sequence number and
// suspended before it recorded anything, while a later one recorded),
// replayed against code that returns before the gap, is reported as not
// deterministic, naming the next recorded operation: ReplayHistory
// panicked (a nil pointer) reading the sequence after the code's last.
func TestReplayHistoryWithAGapAfterTheCodesEnd(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/gap", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return 1, nil // the code that recorded the history ran two futures here
	}))
	hist := &engine.WorkflowHistory{TaskID: 7, Workflow: "t/gap", Input: json.RawMessage(`{"input":1}`),
		Steps: []engine.HistoryStep{{Sequence: 2, Name: "b", Kind: "step", State: store.StepComplete, Results: json.RawMessage(`2`)}}}
	err := env.ReplayHistory(context.Background(), hist)
	var nd *engine.NonDeterminismError
	if !errors.As(err, &nd) || nd.Sequence != 2 || !strings.Contains(err.Error(), `the code returned before sequence 2, where the history records step "b"`) {
		t.Fatalf("ReplayHistory = %v; want a NonDeterminismError at sequence 2, step \"b\"", err)
	}
}
