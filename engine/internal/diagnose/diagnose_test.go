package diagnose

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/engine/internal/errclass"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// facts builds the facts of err as the engine does.
func facts(err error) Facts {
	return Facts{Err: err, Class: errclass.Of(err), Status: errclass.HTTPStatus(err), Kind: "error", Attempt: 1, Limit: 3}
}

func TestBuiltinRules(t *testing.T) {
	for _, c := range []struct {
		name    string
		f       Facts
		rules   []string
		insight string // a fragment of the first insight
		suggest string // a fragment of some suggestion
	}{
		{"timeout with a timeout set", func() Facts { f := facts(errors.New("x")); f.Kind, f.Timeout = "timeout", 5*time.Second; return f }(),
			[]string{"timeout"}, "its timeout is 5s", "raise the step's Timeout from 5s"},
		{"a call's timeout, the step's not passed", func() Facts { f := facts(errors.New("gateway timed out")); f.Timeout = 30 * time.Second; return f }(),
			[]string{"timeout"}, "a call timed out before the step's own timeout (30s) passed", "raise the timeout of the call that timed out"},
		{"own timeout on the last attempt", func() Facts {
			f := facts(errors.New("step s timed out after 5s: attempt timed out: context deadline exceeded"))
			f.Kind, f.Attempt, f.Timeout, f.OwnTimeout = "retries_exhausted", 3, 5*time.Second, true
			return f
		}(), []string{"timeout", "out_of_attempts"}, "its timeout is 5s", "raise the step's Timeout from 5s"},
		{"deadline without timeout", facts(errors.New("context deadline exceeded")), []string{"timeout"}, "a deadline passed", "DependentSystem"},
		{"refused", facts(errors.New("dial tcp: connection refused")), []string{"connection_refused"}, "nothing accepted", "address"},
		{"reset", facts(errors.New("read: connection reset by peer")), []string{"connection_reset"}, "dropped the connection", "IdempotencyKey"},
		{"dns", facts(errors.New("lookup x.invalid: no such host")), []string{"dns"}, "did not resolve", "Permanent"},
		{"tls", facts(errors.New("x509: certificate signed by unknown authority")), []string{"tls"}, "certificate", "clock"},
		{"4xx", facts(errors.New("status 400 Bad Request")), []string{"http_4xx"}, "HTTP 400", "validate the input"},
		{"429", facts(errors.New("status 429 Too Many Requests")), []string{"http_429"}, "rate limiting", "Retry-After"},
		{"429 with the delay passed on", func() Facts {
			f := facts(errors.New("status 429 Too Many Requests"))
			f.RetryAfter = 30 * time.Second
			return f
		}(),
			[]string{"http_429"}, "passed its delay on (engine.Retryable, 30s)", "RateLimit"},
		{"5xx", facts(errors.New("status 503 Service Unavailable")), []string{"http_5xx"}, "HTTP 503", "DependentSystem"},
		{"json", facts(errors.New("invalid character 'x' looking for beginning of value")), []string{"json_decode"}, "did not decode", "Permanent"},
		{"cancelled", facts(errors.New("context canceled")), []string{"cancelled"}, "cancelled", ""},
		{"nil deref", facts(errors.New("handler panicked: runtime error: invalid memory address or nil pointer dereference")), []string{"nil_dereference"}, "nil pointer", "check optional input"},
		{"runtime", facts(errors.New("handler panicked: runtime error: slice bounds out of range")), []string{"programming"}, "runtime error", "fix the handler"},
		{"out of attempts", func() Facts { f := facts(errors.New("boom")); f.Kind, f.Attempt = "retries_exhausted", 3; return f }(),
			[]string{"out_of_attempts"}, "attempt 3 was the last of 3", "from 3 to 5"},
		{"pool pressure", func() Facts { f := facts(errors.New("boom")); f.PoolUtilisation = 0.9; return f }(),
			[]string{"pool_pressure"}, "90% in use", "MaxConcurrency"},
		{"nothing known", facts(errors.New("boom")), nil, "", ""},
		{"system named: no system suggestion", func() Facts { f := facts(errors.New("status 502 Bad Gateway")); f.DependentSystem = "api"; return f }(),
			[]string{"http_5xx"}, "HTTP 502", ""},
	} {
		r := Apply(Builtin(), c.f)
		if !slices.Equal(r.Rules, c.rules) {
			t.Errorf("%s: rules %v, want %v", c.name, r.Rules, c.rules)
			continue
		}
		if c.insight != "" && (len(r.Insights) == 0 || !strings.Contains(r.Insights[0], c.insight)) {
			t.Errorf("%s: insights %q lack %q", c.name, r.Insights, c.insight)
		}
		if c.suggest != "" && !slices.ContainsFunc(r.Suggestions, func(s string) bool { return strings.Contains(s, c.suggest) }) {
			t.Errorf("%s: suggestions %q lack %q", c.name, r.Suggestions, c.suggest)
		}
		if c.name == "system named: no system suggestion" && len(r.Suggestions) != 0 {
			t.Errorf("%s: suggested %q", c.name, r.Suggestions)
		}
	}
}

func TestApply(t *testing.T) {
	rules := []Rule{
		{Name: "a", Match: func(Facts) bool { return true }, Suggest: func(Facts) []string { return []string{"same", "a"} }},
		{Name: "panics", Match: func(Facts) bool { panic("bad rule") }},
		{Name: "b", Match: func(Facts) bool { return true }, Insight: func(Facts) string { return "b says" }, Suggest: func(Facts) []string { return []string{"same"} }},
		{Name: "no", Match: func(Facts) bool { return false }, Insight: func(Facts) string { return "never" }},
		{Name: "nil match"},
	}
	r := Apply(rules, Facts{})
	if !slices.Equal(r.Rules, []string{"a", "b"}) || !slices.Equal(r.Insights, []string{"b says"}) || !slices.Equal(r.Suggestions, []string{"same", "a"}) {
		t.Fatalf("Apply = %+v", r)
	}
}

// A step out of attempts whose error retries cannot fix (a 4xx but 408
// and 429, a TLS failure, a decoding error, a bug) is not told to raise
// its retry limit: the other rule says why retrying gets the same answer.
// Before, a 400 that used its 3 attempts read "return engine.Permanent(err)
// for this error: retrying the same request gets the same answer" beside
// "raise the step's RetryLimit from 3 to 5 if the failure is passing".
func TestOutOfAttemptsSuggestsNoMoreRetriesOfAHopelessError(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want bool // a "raise …" suggestion
	}{
		{"status 400 Bad Request", false},
		{"x509: certificate signed by unknown authority", false},
		{"invalid character 'x' looking for beginning of value", false},
		{"handler panicked: runtime error: invalid memory address or nil pointer dereference", false},
		{"handler panicked: runtime error: slice bounds out of range", false},
		{"status 503 Service Unavailable", true},
		{"status 429 Too Many Requests", true},
		{"status 408 Request Timeout", true},
		{"boom", true},
	} {
		for _, setup := range []func(*Facts){
			func(*Facts) {},
			func(f *Facts) { f.MaxRetries = 1 },
			func(f *Facts) { f.Once = true },
			func(f *Facts) { f.Durable = true },
		} {
			f := facts(errors.New(c.msg))
			f.Kind, f.Attempt = "retries_exhausted", 3
			setup(&f)
			r := Apply(Builtin(), f)
			if !slices.Contains(r.Rules, "out_of_attempts") {
				t.Errorf("%q: rules %v lack out_of_attempts", c.msg, r.Rules)
			}
			got := slices.ContainsFunc(r.Suggestions, func(s string) bool {
				return strings.HasPrefix(s, "raise the") && strings.Contains(s, "if the failure is passing") || strings.HasPrefix(s, "drop the step's")
			})
			if got != c.want {
				t.Errorf("%q (%+v): suggestions %q: a retry suggestion %v, want %v", c.msg, f, r.Suggestions, got, c.want)
			}
		}
	}
}

// A handler's panic with a value of its own (panic("…"), panic(err)) is
// diagnosed as the bug it is, as a nil dereference or another runtime
// error is: it was recorded with no rule, insight or suggestion (class
// unknown), and a step out of attempts was told to raise its limit.
func TestAPanicIsDiagnosed(t *testing.T) {
	f := facts(errors.New("step s panicked: unexpected state"))
	f.Kind = "panic"
	r := Apply(Builtin(), f)
	if !slices.Equal(r.Rules, []string{"panic"}) || len(r.Insights) != 1 || !strings.Contains(r.Insights[0], "panicked") ||
		!slices.ContainsFunc(r.Suggestions, func(s string) bool { return strings.Contains(s, "see the stack") }) {
		t.Fatalf("a panic: %+v", r)
	}
	f.Kind, f.Attempt = "retries_exhausted", 3 // (the last attempt's panic)
	f.Panicked = true
	r = Apply(Builtin(), f)
	if !slices.Equal(r.Rules, []string{"panic", "out_of_attempts"}) || slices.ContainsFunc(r.Suggestions, func(s string) bool { return strings.Contains(s, "RetryLimit") }) {
		t.Fatalf("a panic on the last attempt: %+v", r)
	}
	// A nil dereference is its own rule's, not this one's too.
	f = facts(errors.New("step s panicked: runtime error: invalid memory address or nil pointer dereference"))
	f.Kind, f.Panicked = "panic", true
	if r = Apply(Builtin(), f); !slices.Equal(r.Rules, []string{"nil_dereference"}) {
		t.Fatalf("a nil dereference: %+v", r)
	}
}
