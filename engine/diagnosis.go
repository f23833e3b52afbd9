package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tasker-go/tasker/engine/internal/diagnose"
	"github.com/tasker-go/tasker/engine/internal/errclass"
	"github.com/tasker-go/tasker/store"
)

// Diagnosis is what the engine concluded about a failed attempt: the rules
// that matched, what the failure means (Insights), what to do about it
// (Suggestions), and the system's state when it happened. Every recorded
// failure carries one (StepError.Diagnosis); tasks show, Explain and the
// admin API's task detail print it.
//
// The engine's rules recognise timeouts, refused and reset connections,
// DNS and TLS failures, HTTP 4xx, 429 and 5xx statuses (an error with a
// StatusCode() int method, or a status line such as "503 Service
// Unavailable" in its message), JSON decoding errors, cancellation, nil
// dereferences, other runtime errors and other panics in handlers, a step
// out of attempts, an attempt whose lease expired (its worker died or
// stalled), a result over Config.MaxPayloadBytes, and a busy connection
// pool. Config.DiagnosisRules adds yours.
type Diagnosis struct {
	Class       string         `json:"class,omitempty"` // the error's class, as BackoffDecision.ErrorClass ("unknown" included)
	Rules       []string       `json:"rules,omitempty"`
	Insights    []string       `json:"insights,omitempty"`
	Suggestions []string       `json:"suggestions,omitempty"`
	System      SystemSnapshot `json:"system"`
}

// SystemSnapshot is the state of the process that recorded the failure,
// when it did: the attempt's own for a failure it returned; for one the
// maintenance pass recorded (an expired lease, a task past its deadline),
// the state of the process that ran that pass, which may be another.
type SystemSnapshot struct {
	// PoolInUse of PoolMax connections (PoolMax 0: unbounded) and the
	// pressure level they make (low, moderate, high, critical;
	// not_assessed on SQLite, whose one writer connection is busy
	// whenever anything writes).
	PoolInUse       int     `json:"pool_in_use"`
	PoolMax         int     `json:"pool_max"`
	PoolUtilisation float64 `json:"pool_utilisation"`
	Pressure        string  `json:"pressure"`
	// Running handlers in this process, of at most MaxConcurrency.
	Running        int `json:"running"`
	MaxConcurrency int `json:"max_concurrency"`
}

// DiagnosisRule is a rule of yours: when Match(err) holds for a failed
// attempt's error, Name joins Diagnosis.Rules, Insight (if any) its
// Insights and Suggestions its Suggestions. Match must be quick and must
// not block; a Match that panics is skipped. New refuses a rule without a
// Name or a Match, a Name already taken (by the engine's rules or an
// earlier one), and one the store could not record as given (a Name over
// store.MaxNameLen bytes; a NUL byte or invalid UTF-8 in its Name, Insight
// or a suggestion; an empty suggestion).
type DiagnosisRule struct {
	Name        string
	Match       func(err error) bool
	Insight     string
	Suggestions []string
}

// validateRules refuses nameless, matchless and duplicate rules, names
// taken by the engine's own, and names a failure's document cannot carry.
func validateRules(rules []DiagnosisRule) []error {
	var errs []error
	seen := map[string]bool{}
	for _, r := range diagnose.Builtin() {
		seen[r.Name] = true
	}
	for i, r := range rules {
		switch {
		case r.Name == "":
			errs = append(errs, fmt.Errorf("config: diagnosis rules[%d] has no Name", i))
		case seen[r.Name]:
			errs = append(errs, fmt.Errorf("config: diagnosis rules[%d] %q: the name is taken (an engine rule or an earlier one)", i, r.Name))
		default:
			// The failure's JSON document carries the name: a NUL or
			// invalid UTF-8 would be recorded replaced, another name.
			if msg := checkName(fmt.Sprintf("config: diagnosis rules[%d] name", i), r.Name); msg != "" {
				errs = append(errs, errors.New(msg))
			}
		}
		if r.Match == nil {
			errs = append(errs, fmt.Errorf("config: diagnosis rules[%d] %q has no Match", i, r.Name))
		}
		// The document carries Insight and Suggestions too: a NUL or
		// invalid UTF-8 would be recorded as U+FFFD, and an empty
		// suggestion would be dropped, not what was configured.
		if msg := checkRuleText(fmt.Sprintf("config: diagnosis rules[%d] %q Insight", i, r.Name), r.Insight); msg != "" {
			errs = append(errs, errors.New(msg))
		}
		for j, s := range r.Suggestions {
			what := fmt.Sprintf("config: diagnosis rules[%d] %q Suggestions[%d]", i, r.Name, j)
			if s == "" {
				errs = append(errs, errors.New(what+" is empty"))
			} else if msg := checkRuleText(what, s); msg != "" {
				errs = append(errs, errors.New(msg))
			}
		}
		seen[r.Name] = true
	}
	return errs
}

// checkRuleText refuses a rule's text (an Insight, a suggestion) that
// the failure's JSON document cannot carry as given.
func checkRuleText(what, s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Sprintf("%s %s contains a NUL byte", what, quoteName(s))
	case !utf8.ValidString(s):
		return fmt.Sprintf("%s %s is not valid UTF-8", what, quoteName(s))
	}
	return ""
}

// diagnosisRules is the engine's table followed by the configured rules.
func diagnosisRules(user []DiagnosisRule) []diagnose.Rule {
	rules := diagnose.Builtin()
	for _, u := range user {
		rules = append(rules, diagnose.Rule{Name: u.Name,
			Match:   func(f diagnose.Facts) bool { return f.Err != nil && u.Match(f.Err) },
			Insight: func(diagnose.Facts) string { return u.Insight },
			Suggest: func(diagnose.Facts) []string { return slices.Clone(u.Suggestions) }})
	}
	return rules
}

// diagnoseFailure diagnoses a failed attempt (f is what classify made of
// err).
func (e *Engine) diagnoseFailure(f *failure, a attemptInfo, policy stepPolicy, err error, class errclass.Class) *Diagnosis {
	r, assessed := e.pool()
	facts := diagnose.Facts{Err: err, Class: class, Status: errclass.HTTPStatus(err), Kind: f.Kind, Attempt: a.attempt, Limit: a.limit,
		Once: !a.retryable, Durable: a.sequence > 0, Timeout: policy.Timeout, DependentSystem: policy.DependentSystem, RetryAfter: f.requested}
	facts.OwnTimeout = errors.Is(err, errAttemptTimeout)
	var pe *PanicError
	facts.Panicked = errors.As(err, &pe)
	if errors.Is(err, errLeaseExpired) { // (the rescue's: no attempt returned it)
		facts.Kind = diagnose.KindLeaseExpired
	}
	if errors.Is(err, ErrPayloadTooLarge) {
		// Any refusal for size (an event's payload a handler sent, say)
		// is spoken of as an oversized result is (payload_too_large).
		facts.Kind = KindPayloadTooLarge
	}
	var re *RetryableError
	if f.Kind == KindExhausted && errors.As(err, &re) && re.MaxRetries > 0 && a.attempt > re.MaxRetries &&
		(a.limit == 0 || a.attempt < a.limit) {
		// The error's own cap ended the step, below its attempt limit:
		// raising that limit would change nothing.
		facts.MaxRetries = re.MaxRetries
	}
	pressureName := "not_assessed"
	if assessed {
		facts.PoolUtilisation, pressureName = r.Utilisation, r.Level.String()
	}
	if facts.Timeout == 0 {
		facts.Timeout = e.cfg.Execution.DefaultTimeout
	}
	res := diagnose.Apply(e.rules, facts)
	d := &Diagnosis{Class: class.Name(), Rules: res.Rules, Insights: res.Insights, Suggestions: res.Suggestions,
		System: SystemSnapshot{PoolInUse: r.InUse, PoolMax: r.MaxOpen, PoolUtilisation: r.Utilisation, Pressure: pressureName,
			Running: e.inflight.Len(), MaxConcurrency: e.cfg.Execution.MaxConcurrency}}
	return d
}

// The failures the store's rescue records: a task past its deadline that
// no attempt failed, a step whose worker stopped heartbeating.
var (
	errDeadlineSwept = Permanent(fmt.Errorf("%w: the task did not finish by its deadline", ErrWorkflowTimeout))
	errLeaseExpired  = errors.New("lease expired: the worker running this attempt stopped heartbeating")
)

// sweptCause is the failure document the store's rescue records for err
// (reason, when set, says why: lease_expired), diagnosed by the rules an
// attempt's failure is, with the system's state as the rescue runs.
func (e *Engine) sweptCause(err error, reason string) store.JSON {
	f := failureOf("", 0, err)
	f.reason = reason
	f.Diagnosis = e.diagnoseFailure(&f, attemptInfo{retryable: true}, stepPolicy{}, err, errclass.Of(err))
	return f.doc()
}
