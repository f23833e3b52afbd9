package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tasker-go/tasker/store"
)

// The final result of a task, reachable without knowing the name of its
// last step. The rule:
//
//   - a DAG task's final steps are its sinks: the steps no other step
//     depends on. With one sink, Final is that step's result; with several,
//     it is a JSON object with one member per sink that recorded a result,
//     keyed by step name (a sink resolved by hand without results is left
//     out).
//   - a code-first workflow's final result is what its function returned
//     (the same value WorkflowHandle.Result decodes).
//
// A task that did not complete (error, cancelled) has no final result.

// FinalSteps names the steps whose results make up Final, sorted: the DAG's
// sink steps, or the driver step of a code-first workflow.
func (o *Outcome) FinalSteps() []string { return slices.Clone(o.final) }

// Final returns the task's final result as JSON (see FinalSteps for which
// steps it comes from). It fails when the task did not complete or its
// final step recorded no result, and for a code-first run that continued
// as new (ContinueAsNew), whose result is the next run's: the error wraps a
// *ContinuedError naming it.
func (o *Outcome) Final() (json.RawMessage, error) {
	if o.State != store.TaskComplete && o.State != store.TaskResolvedManually {
		return nil, fmt.Errorf("task %d ended %s: it has no final result", o.TaskID, o.State)
	}
	switch len(o.final) {
	case 0:
		return nil, fmt.Errorf("task %d has no final step", o.TaskID)
	case 1:
		raw, ok := o.Results[o.final[0]]
		if !ok {
			return nil, fmt.Errorf("task %d: final step %q recorded no result", o.TaskID, o.final[0])
		}
		if next, ok := continuedAs(raw); ok && o.kind == store.KindCode {
			// The driver's result names the next run, not a value of
			// the workflow's: decoded, it failed as the wrong type.
			return nil, fmt.Errorf("task %d has no final result of its own: %w (WorkflowHandle.Result follows the runs to the last one's result; Engine.Runs lists them)",
				o.TaskID, &ContinuedError{TaskID: o.TaskID, Next: next})
		}
		return raw, nil
	}
	all := make(map[string]json.RawMessage, len(o.final))
	for _, name := range o.final {
		if raw, ok := o.Results[name]; ok {
			all[name] = raw
		}
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("task %d: none of its final steps %q recorded a result", o.TaskID, o.final)
	}
	return json.Marshal(all)
}

// DecodeFinal decodes the task's final result (see Final) into v: with
// several sink steps, v is typically a map[string]T or a struct with one
// field per sink.
func (o *Outcome) DecodeFinal(v any) error {
	raw, err := o.Final()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		if len(o.final) > 1 {
			return fmt.Errorf("decoding the final result of task %d, an object keyed by its final steps %s (a struct or map of them, or Decode one step): %w", o.TaskID, strings.Join(o.final, ", "), err)
		}
		return fmt.Errorf("decoding the final result of task %d: %w", o.TaskID, err)
	}
	return nil
}

// finalSteps finds the steps whose results are the task's final result.
func finalSteps(d *store.TaskOutcome) []string {
	if d.Kind == store.KindCode {
		return []string{DriverStep}
	}
	var out []string
	for _, s := range d.Steps {
		if s.Final {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	return out
}
