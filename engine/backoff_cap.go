package engine

import (
	"fmt"
	"math"

	"github.com/tasker-go/tasker/retry"
)

// backoffCapped is the problem of a step's backoff whose Base, its Max left
// to the engine's Config.Retry.Max (see classify; DefaultMax when the
// config leaves it unset), is above that max: retry.Policy.Ceiling would
// cap every delay there, the Base given doing nothing. Only the engine
// knows its max, so the check is made here, where a template is registered
// and a durable step's options are read. "" when there is none.
func (e *Engine) backoffCapped(p retry.Policy) string {
	limit := e.cfg.Retry.WithDefaults().Max
	if p.Base == 0 || p.Max != 0 || p.Base <= limit {
		return ""
	}
	return fmt.Sprintf("retry base %s is above the engine's retry max %s (Config.Retry.Max), which would cap every delay: set max too", p.Base, limit)
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
