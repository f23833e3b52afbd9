// Package diagnose turns a failed attempt into insights and resolution
// suggestions (the original plan's 3.2): a table of rules, each matching a
// class of error or a state of the step or the system, applied in order.
// It is pure; the engine supplies the facts and stores the result with
// the failure.
package diagnose

import (
	"fmt"
	"slices"
	"time"

	"github.com/tasker-go/tasker/engine/internal/errclass"
)

// Facts are what the rules look at.
type Facts struct {
	Err     error // the attempt's error
	Class   errclass.Class
	Status  int    // the HTTP status the error carries, 0 if none
	Kind    string // the engine's failure kind: "timeout", "retries_exhausted", …
	Attempt int
	// Limit is the step's total attempts allowed (0: unknown).
	Limit int
	// RetryAfter is the delay the error asked for (a RetryableError's
	// RetryAfter, the step's backoff replaced by it), 0 for none.
	RetryAfter time.Duration
	// MaxRetries, when positive, is the cap of the RetryableError that
	// ended the step (its MaxRetries), below Limit.
	MaxRetries int
	// Once: the step makes one attempt whatever its Limit (NotRetryable,
	// or a durable step's WithStepNoRetry); Durable: a code-first
	// workflow's durable step (its options are StepOptions).
	Once, Durable bool
	Timeout       time.Duration // the attempt's timeout (0: none)
	// OwnTimeout: the attempt ran out of its own time (Timeout). Kind
	// says so too ("timeout") but for the last attempt, recorded as
	// retries_exhausted; an error of the timeout class without it is a
	// call's timeout (a client's deadline, "gateway timed out"), which
	// raising Timeout does not help.
	OwnTimeout      bool
	DependentSystem string
	// Panicked: the handler panicked (Kind is "panic" but for the last
	// attempt, recorded as retries_exhausted).
	Panicked bool
	// PoolUtilisation is the connection pool's use when the attempt failed.
	PoolUtilisation float64
}

// Rule is one line of the table: when Match holds, Insight says what the
// failure means and Suggest what to do (either may be nil).
type Rule struct {
	Name    string
	Match   func(Facts) bool
	Insight func(Facts) string
	Suggest func(Facts) []string
}

// Result is what the matching rules said, in table order; suggestions
// repeated by several rules appear once.
type Result struct {
	Rules       []string `json:"rules"`
	Insights    []string `json:"insights,omitempty"`
	Suggestions []string `json:"suggestions,omitempty"`
}

// Apply runs the rules over f. A rule that panics is skipped (a user's
// rule must not turn a failure into a crash).
func Apply(rules []Rule, f Facts) Result {
	var r Result
	for _, rule := range rules {
		func() {
			defer func() { _ = recover() }()
			if rule.Match == nil || !rule.Match(f) {
				return
			}
			r.Rules = append(r.Rules, rule.Name)
			if rule.Insight != nil {
				if s := rule.Insight(f); s != "" {
					r.Insights = append(r.Insights, s)
				}
			}
			if rule.Suggest != nil {
				for _, s := range rule.Suggest(f) {
					if s != "" && !slices.Contains(r.Suggestions, s) {
						r.Suggestions = append(r.Suggestions, s)
					}
				}
			}
		}()
	}
	return r
}

// Suggestions shared by several rules.
const (
	suggestSystem    = "name the step's DependentSystem (a durable step: engine.WithStepDependentSystem) so its circuit breaker holds every worker back while the system is down"
	suggestPermanent = "return engine.Permanent(err) for this error: retrying the same request gets the same answer"
	suggestValidate  = "validate the input before the call (Template.InputSchema, or a check in the handler)"
)

// KindLeaseExpired is Facts.Kind of an attempt the rescue ended: its
// worker stopped renewing its lease.
const KindLeaseExpired = "lease_expired"

// PoolBusy is the pool utilisation above which the pool_pressure rule
// speaks (the plan's 80 %).
const PoolBusy = 0.8

// hopeless reports whether retries cannot fix the failure: a request the
// server refused (a 4xx but 408 and 429), a certificate, a document of
// another shape, a bug (a panic). Its rule says so; out_of_attempts then suggests no
// more attempts.
func hopeless(f Facts) bool {
	switch f.Class {
	case errclass.HTTP4xx:
		return f.Status != 429 && f.Status != 408
	case errclass.TLS, errclass.Decode, errclass.NilDeref, errclass.Programming:
		return true
	}
	return f.Panicked || f.Kind == "panic"
}

func class(c errclass.Class) func(Facts) bool { return func(f Facts) bool { return f.Class == c } }

func text(s string) func(Facts) string { return func(Facts) string { return s } }

func withSystem(f Facts, s ...string) []string {
	if f.DependentSystem == "" {
		s = append(s, suggestSystem)
	}
	return s
}

// Builtin is the engine's rule table.
func Builtin() []Rule {
	return []Rule{
		{Name: "timeout", Match: func(f Facts) bool { return f.Class == errclass.Timeout || f.Kind == "timeout" },
			Insight: func(f Facts) string {
				if f.Kind == "workflow_timeout" { // (its message reads "timed out" too)
					return "the task's deadline (WithWorkflowTimeout) passed: no attempt starts after it, and a retry due after it fails the step"
				}
				own := f.OwnTimeout || f.Kind == "timeout"
				switch {
				case own && f.Timeout > 0:
					return fmt.Sprintf("the attempt ran out of time (its timeout is %s): the system it waits on is slow or overloaded", f.Timeout)
				case !own && f.Timeout > 0:
					return fmt.Sprintf("a call timed out before the step's own timeout (%s) passed: the system it waits on is slow or overloaded", f.Timeout)
				}
				return "a deadline passed while the attempt waited: the system it waits on is slow or overloaded"
			},
			Suggest: func(f Facts) []string {
				if f.Kind == "workflow_timeout" {
					options := "RetryLimit, Backoff"
					if f.Durable {
						options = "WithStepRetryLimit, WithStepBackoff"
					}
					return []string{fmt.Sprintf("raise the task's WithWorkflowTimeout, or shorten its steps' retries (%s) so they end before it", options)}
				}
				option := "Timeout"
				if f.Durable {
					option = "WithStepTimeout"
				}
				if f.Timeout > 0 && !f.OwnTimeout && f.Kind != "timeout" {
					return withSystem(f, fmt.Sprintf("if the system is only slow, raise the timeout of the call that timed out (its client's or its context's): the step's %s (%s) did not end the attempt", option, f.Timeout))
				}
				s := fmt.Sprintf("raise the step's %s (30–60 s suits calls to external APIs)", option)
				if f.Timeout > 0 {
					s = fmt.Sprintf("raise the step's %s from %s (30–60 s suits calls to external APIs)", option, f.Timeout)
				}
				return withSystem(f, s)
			}},
		{Name: "connection_refused", Match: class(errclass.ConnRefused),
			Insight: text("nothing accepted the connection: the service is down, restarting, or the address is wrong"),
			Suggest: func(f Facts) []string { return withSystem(f, "check the service's address and that it is up") }},
		{Name: "connection_reset", Match: class(errclass.ConnReset),
			Insight: text("the peer dropped the connection mid-request: a restart, a proxy's idle timeout or an overload"),
			Suggest: func(f Facts) []string {
				return withSystem(f, "make the call idempotent (StepContext.IdempotencyKey) so a retry after a reset is safe")
			}},
		{Name: "dns", Match: class(errclass.DNS),
			Insight: text("the host name did not resolve"),
			Suggest: func(f Facts) []string {
				return []string{"check the host name and the resolver", "if the host comes from the task's input, " + suggestPermanent}
			}},
		{Name: "tls", Match: class(errclass.TLS),
			Insight: text("the TLS handshake or the certificate check failed: retries do not fix a certificate"),
			Suggest: func(Facts) []string {
				return []string{"check the certificate chain, its host names and the machine's clock", suggestPermanent}
			}},
		{Name: "http_4xx", Match: func(f Facts) bool { return f.Class == errclass.HTTP4xx && f.Status != 429 && f.Status != 408 },
			Insight: func(f Facts) string {
				return fmt.Sprintf("the server refused the request (HTTP %d): the request itself is wrong, not the server's state", f.Status)
			},
			Suggest: func(Facts) []string { return []string{suggestValidate, suggestPermanent} }},
		{Name: "http_429", Match: func(f Facts) bool { return f.Status == 429 },
			Insight: func(f Facts) string {
				if f.RetryAfter > 0 {
					return fmt.Sprintf("the server is rate limiting the calls (HTTP 429); the handler passed its delay on (engine.Retryable, %s)", f.RetryAfter)
				}
				return "the server is rate limiting the calls (HTTP 429)"
			},
			Suggest: func(f Facts) []string {
				// A template's rate limits do not apply to a durable step
				// (it is never claimed on its own), and a code-first
				// workflow has no template to declare them on.
				switch {
				case f.Durable && f.RetryAfter > 0:
					return withSystem(f)
				case f.Durable:
					return withSystem(f, "return engine.Retryable(err, d) with the Retry-After header's delay")
				case f.RetryAfter > 0: // (the handler passes the delay on already)
					return withSystem(f, "declare the system's RateLimit on the template, so its steps start no faster than the server allows")
				}
				return withSystem(f, "return engine.Retryable(err, d) with the Retry-After header's delay, and declare the system's RateLimit on the template")
			}},
		{Name: "http_5xx", Match: func(f Facts) bool { return f.Class == errclass.HTTP5xx || f.Status == 408 },
			Insight: func(f Facts) string { return fmt.Sprintf("the server failed (HTTP %d): usually passing", f.Status) },
			Suggest: func(f Facts) []string { return withSystem(f) }},
		{Name: "json_decode", Match: class(errclass.Decode),
			Insight: text("a JSON document did not decode: the input or a response has another shape than the code expects"),
			Suggest: func(Facts) []string { return []string{suggestValidate, suggestPermanent} }},
		{Name: "cancelled", Match: class(errclass.Cancelled),
			Insight: text("the attempt's context was cancelled: the process stopping, the task cancelled, or the handler's own cancel"),
		},
		{Name: "nil_dereference", Match: class(errclass.NilDeref),
			Insight: text("the handler dereferenced a nil pointer: a bug; a retry runs the same code on the same input"),
			Suggest: func(Facts) []string {
				return []string{"fix the handler: check optional input fields and dependency results for nil before use (see the stack)"}
			}},
		{Name: "programming", Match: class(errclass.Programming),
			Insight: text("the handler hit a runtime error (index out of range, bad conversion…): a bug"),
			Suggest: func(Facts) []string { return []string{"fix the handler (see the stack)"} }},
		{Name: "panic", Match: func(f Facts) bool {
			return (f.Panicked || f.Kind == "panic") && f.Class != errclass.NilDeref && f.Class != errclass.Programming // (their own rules')
		},
			Insight: text("the handler panicked: a bug, or a state it did not expect; a retry runs the same code on the same input"),
			Suggest: func(Facts) []string {
				return []string{"fix the handler (see the stack); for a failure it can foresee, return an error (engine.Permanent when retrying cannot help) instead of panicking"}
			}},
		{Name: "out_of_attempts", Match: func(f Facts) bool { return f.Kind == "retries_exhausted" },
			Insight: func(f Facts) string {
				switch {
				case f.Once:
					return "the step is not retryable: its one attempt failed"
				case f.MaxRetries > 0:
					return fmt.Sprintf("attempt %d came after the %d retries its error allows (RetryableError MaxRetries %d)", f.Attempt, f.MaxRetries, f.MaxRetries)
				case f.Limit > 0:
					return fmt.Sprintf("attempt %d was the last of %d allowed", f.Attempt, f.Limit)
				}
				return fmt.Sprintf("attempt %d was the last allowed", f.Attempt)
			},
			Suggest: func(f Facts) []string {
				switch {
				case hopeless(f): // (its own rule says why: more attempts fail alike)
					return nil
				case f.Once && f.Durable:
					return []string{"drop the step's WithStepNoRetry if the failure is passing"}
				case f.Once:
					return []string{"drop the step's NotRetryable (retryable: false) if the failure is passing"}
				case f.MaxRetries > 0:
					return []string{fmt.Sprintf("raise the MaxRetries of the RetryableError the handler returns from %d if the failure is passing", f.MaxRetries)}
				case f.Limit > 0 && f.Durable:
					return []string{fmt.Sprintf("raise the step's WithStepRetryLimit from %d to %d if the failure is passing", f.Limit, f.Limit+2)}
				case f.Limit > 0:
					return []string{fmt.Sprintf("raise the step's RetryLimit from %d to %d if the failure is passing", f.Limit, f.Limit+2)}
				}
				return nil
			}},
		{Name: "lease_expired", Match: func(f Facts) bool { return f.Kind == KindLeaseExpired },
			Insight: text("the worker running the attempt stopped renewing its lease (every third of ExecutionConfig.LeaseTTL) before the attempt ended: its process died or was stopped without draining, or it stalled (a long pause, an overloaded machine) for longer than the lease"),
			Suggest: func(Facts) []string {
				return []string{"look at that worker's logs around the lease's expiry; stop engines with Engine.Stop, which lets running steps finish",
					"if the process lives on but stalls, raise ExecutionConfig.LeaseTTL"}
			}},
		{Name: "payload_too_large", Match: func(f Facts) bool { return f.Kind == "payload_too_large" },
			Insight: text("the result is over Config.MaxPayloadBytes: every attempt would return it again, so the step failed at once"),
			Suggest: func(Facts) []string {
				return []string{"keep a large result elsewhere (a blob store) and return a reference to it, or raise Config.MaxPayloadBytes (at most store.MaxJSONBytes)"}
			}},
		{Name: "pool_pressure", Match: func(f Facts) bool { return f.PoolUtilisation > PoolBusy },
			Insight: func(f Facts) string {
				return fmt.Sprintf("the database connection pool was %.0f%% in use when the attempt failed", 100*f.PoolUtilisation)
			},
			Suggest: func(Facts) []string {
				return []string{"lower Execution.MaxConcurrency or grow the database pool"}
			}},
	}
}
