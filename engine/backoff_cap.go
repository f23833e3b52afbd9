package engine

import (
	"fmt"
	"math"

	"github.com/tasker-go/tasker/retry"
)

// backoffCapped is the problem of a step's backoff whose Base, its Max left
// to the engine's Config.Retry.Max (engineRetry; see classify; DefaultMax
// when the config leaves it unset), is above that max: retry.Policy.Ceiling
// would cap every delay there, the Base given doing nothing. Only the
// engine knows its max, so the check is made where a template is
// registered (CheckBackoff) and a durable step's options are read. ""
// when there is none.
func backoffCapped(p, engineRetry retry.Policy) string {
	limit := engineRetry.WithDefaults().Max
	if p.Base == 0 || p.Max != 0 || p.Base <= limit {
		return ""
	}
	return fmt.Sprintf("retry base %s is above the engine's retry max %s (Config.Retry.Max), which would cap every delay: set max too", p.Base, limit)
}

// CheckBackoff reports, as Register refuses them, the steps whose retry
// Base is above the Max of engineRetry (an engine's Config.Retry; its
// zero Max is retry.DefaultMax) and that set no Max of their own: every
// delay would be capped at that max. Validate cannot tell, knowing no
// engine's config; tasker lint calls this with the CLI's. The error joins
// one *TemplateError per step (see TemplateProblems); nil when none is.
func (t *Template) CheckBackoff(engineRetry retry.Policy) error {
	var capped []*TemplateError
	for i, s := range t.Steps {
		if msg := backoffCapped(s.Backoff, engineRetry); msg != "" {
			capped = append(capped, t.problem(fmt.Sprintf("steps[%d].retry.base", i), fmt.Sprintf("step %s: %s", quoteName(s.Name), msg)))
		}
	}
	return joinProblems(capped)
}

// validateStepBackoff is p.Validate but for its rule that a Base above
// DefaultMax with no Max is capped there: a step's missing Max is the
// engine's Config.Retry.Max, which backoffCapped weighs the Base against.
func validateStepBackoff(p retry.Policy) error {
	if p.Max == 0 {
		p.Max = math.MaxInt64 // (no cap here: the engine's comes from backoffCapped)
	}
	return p.Validate()
}
