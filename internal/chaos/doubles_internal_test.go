package chaos

import (
	"context"
	"testing"

	"github.com/tasker-go/tasker/engine"
)

// A step completed twice in a scenario's database shows in DOUBLE
// COMPLETIONS and fails the run, whichever scenario it is: the heartbeat
// and retention scenarios counted none (their column said 0 unchecked),
// the others each their own way. Here a scenario that counts nothing
// leaves one step with two moves to complete.
func TestDoubleCompletionsCountedForEveryScenario(t *testing.T) {
	ctx := context.Background()
	tg, err := newTarget("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	sc := scenario{name: "completes a step twice", run: func(ctx context.Context, o opener, _ bool) (Row, error) {
		s, err := o.open(ctx)
		if err != nil {
			return Row{}, err
		}
		defer s.Close()
		e, err := engine.New(engine.Config{Store: s})
		if err != nil {
			return Row{}, err
		}
		defer e.Stop(ctx)
		if err := e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }); err != nil {
			return Row{}, err
		}
		if err := e.Register(&engine.Template{Namespace: "chaos", Name: "twice", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}); err != nil {
			return Row{}, err
		}
		if _, err := e.Start(ctx, "chaos/twice", nil); err != nil {
			return Row{}, err
		}
		if _, err := e.RunOnce(ctx); err != nil {
			return Row{}, err
		}
		_, err = s.DB().NewRaw(`INSERT INTO tasker_step_transitions (step_id, task_id, from_state, to_state, sort_key, metadata, created_at)
			SELECT step_id, task_id, from_state, to_state, sort_key + 100, metadata, created_at FROM tasker_step_transitions WHERE to_state = 'complete'`).Exec(ctx)
		return Row{Workflows: 1}, err
	}}
	r := tg.runScenario(ctx, sc, true)
	if r.DoubleCompletions != 1 || r.OK() {
		t.Fatalf("row %+v, want one double completion and the row failed", r)
	}
}
