package engine

import (
	"encoding/json"
	"errors"
)

// EventStepSkipped: a skippable step's handler returned Skip.
const EventStepSkipped = "step.skipped"

// SkipError is what Skip returns.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "step skipped: " + e.Reason }

// Skip ends a skippable step (StepTemplate.Skippable) without a result:
// the step is recorded complete with no result, its transition's metadata
// says it was skipped and why, and its dependants run without a result from
// it (Result reports the dependency as skipped). A step that is not
// skippable and returns Skip fails with a permanent error saying so, and
// so do a durable step's function and a workflow function that return it:
// a code-first workflow has no step to skip.
func Skip(reason string) error { return &SkipError{Reason: reason} }

func asSkip(err error) (*SkipError, bool) {
	var s *SkipError
	if errors.As(err, &s) {
		return s, true
	}
	return nil, false
}

// isSkip reports whether a transition's metadata records a skip.
func isSkip(meta []byte) bool {
	if len(meta) == 0 {
		return false
	}
	var m struct {
		Skipped bool `json:"skipped"`
	}
	return json.Unmarshal(meta, &m) == nil && m.Skipped
}
