package store

import (
	"errors"
	"time"
)

// StepSuccessRateParams ask how often attempt Attempt of steps named Name
// succeeded, among the Limit most recent such steps created at or after
// Since.
type StepSuccessRateParams struct {
	Name string
	// Namespace and Workflow, when set (both or neither), count only the
	// steps of that workflow's tasks, any version: a step name ("fetch",
	// a durable step's "call#1") is often another workflow's too.
	Namespace, Workflow string
	Attempt             int // ≥ 1
	// Since bounds the look-back (the predictive retry uses 7 days).
	// Required.
	Since time.Time
	// Limit is the most steps sampled, newest first (default 1000).
	Limit int
}

// DefaultSuccessRateLimit is StepSuccessRateParams.Limit's default.
const DefaultSuccessRateLimit = 1000

// StepSuccessRate counts the attempts numbered Attempt that have ended: a
// step that made exactly that many attempts and completed succeeded at it;
// one that went past it, or made that many and failed (waiting for its
// retry, or in error), failed at it. Steps running that attempt, never
// claimed, cancelled or resolved by hand say nothing and are not counted.
type StepSuccessRate struct {
	Attempts  int // attempts numbered Attempt that ended
	Succeeded int
}

// Rate is Succeeded/Attempts; ok is false with no attempts.
func (r StepSuccessRate) Rate() (rate float64, ok bool) {
	if r.Attempts == 0 {
		return 0, false
	}
	return float64(r.Succeeded) / float64(r.Attempts), true
}

// Validate reports every problem with p at once.
func (p *StepSuccessRateParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	if err := checkName("name", p.Name, true); err != nil {
		errs = append(errs, err)
	}
	if (p.Namespace == "") != (p.Workflow == "") {
		errs = append(errs, invalid("workflow", "namespace %q and workflow %q: set both or neither", p.Namespace, p.Workflow))
	}
	errs = append(errs, checkName("namespace", p.Namespace, false), checkName("workflow", p.Workflow, false))
	if p.Attempt < 1 {
		errs = append(errs, invalid("attempt", "must be at least 1, got %d", p.Attempt))
	}
	if p.Since.IsZero() {
		errs = append(errs, invalid("since", "is required"))
	}
	if p.Limit < 0 {
		errs = append(errs, invalid("limit", "must not be negative, got %d", p.Limit))
	}
	return errors.Join(errs...)
}
