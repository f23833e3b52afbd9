package engine

import (
	"fmt"

	"github.com/tasker-go/tasker/retry"
)

// backoffCapped is the problem of a step's backoff whose Base, its Max left
// to the engine's Config.Retry.Max (see classify), is above that max:
// retry.Policy.Ceiling would cap every delay there, the Base given doing
// nothing. retry.Policy.Validate catches it against DefaultMax only; the
// engine's own max is known here, where a template is registered and a
// durable step's options are read. "" when there is none.
func (e *Engine) backoffCapped(p retry.Policy) string {
	if p.Base == 0 || p.Max != 0 || e.cfg.Retry.Max == 0 || p.Base <= e.cfg.Retry.Max {
		return ""
	}
	return fmt.Sprintf("retry base %s is above the engine's retry max %s (Config.Retry.Max), which would cap every delay: set max too", p.Base, e.cfg.Retry.Max)
}
