package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/testkit"
)

var errQuota = errors.New("quota exceeded for project")

func TestDiagnosisOfFailures(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{DiagnosisRules: []engine.DiagnosisRule{{
		Name: "quota", Match: func(err error) bool { return errors.Is(err, errQuota) },
		Insight: "the project ran out of quota", Suggestions: []string{"ask for more quota"},
	}}}})
	must(t, env.HandleFunc("nil", func(sc *engine.StepContext) (any, error) {
		var m *struct{ N int }
		return m.N, nil // a nil dereference: the handler panics
	}))
	must(t, env.HandleFunc("quota", func(*engine.StepContext) (any, error) { return nil, errQuota }))
	for _, c := range []struct {
		handler string
		rules   []string
		insight string
		suggest string
	}{
		{"nil", []string{"nil_dereference", "out_of_attempts"}, "nil pointer", "fix the handler"}, // (not "raise the RetryLimit": a retry runs the same bug)
		{"quota", []string{"out_of_attempts", "quota"}, "the project ran out of quota", "ask for more quota"},
	} {
		must(t, env.Register(&engine.Template{Namespace: "d", Name: c.handler, Steps: []engine.StepTemplate{{Name: "s", Handler: c.handler, RetryLimit: 2}}}))
		hd, err := env.Start(context.Background(), "d/"+c.handler, nil)
		must(t, err)
		env.RunUntilDone(hd.TaskID)
		f := lastFailure(t, env, hd.TaskID)
		d := f.Diagnosis
		if d == nil || !slices.Equal(d.Rules, c.rules) {
			t.Fatalf("%s: diagnosis %+v, want rules %v", c.handler, d, c.rules)
		}
		if !slices.ContainsFunc(d.Insights, func(s string) bool { return strings.Contains(s, c.insight) }) ||
			!slices.ContainsFunc(d.Suggestions, func(s string) bool { return strings.Contains(s, c.suggest) }) {
			t.Fatalf("%s: diagnosis %+v lacks %q / %q", c.handler, d, c.insight, c.suggest)
		}
		if d.System.MaxConcurrency != 32 || d.System.Pressure == "" || d.System.PoolMax < 1 {
			t.Fatalf("%s: system snapshot %+v", c.handler, d.System)
		}
		// Explain shows it for the failed step.
		ex, err := env.Explain(context.Background(), hd.TaskID)
		must(t, err)
		if len(ex.Steps) != 1 || ex.Steps[0].Diagnosis == nil || !slices.Equal(ex.Steps[0].Diagnosis.Rules, c.rules) {
			t.Fatalf("%s: Explain %+v", c.handler, ex.Steps)
		}
	}
}

func TestDiagnosisRulesRefused(t *testing.T) {
	s := testkit.NewEngine(t, nil).Store
	match := func(error) bool { return false }
	cfg := engine.Config{Store: s, DiagnosisRules: []engine.DiagnosisRule{
		{Name: "", Match: match}, {Name: "timeout", Match: match}, {Name: "mine"}, {Name: "dup", Match: match}, {Name: "dup", Match: match},
		// A name the failure's JSON document cannot carry as given (it
		// was recorded with the NUL or the bad bytes replaced).
		{Name: "a\x00b", Match: match}, {Name: "bad\xff", Match: match}, {Name: strings.Repeat("r", 300), Match: match},
	}}
	err := cfg.Validate()
	for _, want := range []string{"rules[0] has no Name", `rules[1] "timeout": the name is taken`, `rules[2] "mine" has no Match`, `rules[4] "dup": the name is taken`,
		"rules[5] name", "contains a NUL byte", "rules[6] name", "is not valid UTF-8", "rules[7] name", "is 300 bytes long"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
	if _, err := engine.New(cfg); err == nil {
		t.Fatal("New accepted bad rules")
	}
}

// A rule's Insight and Suggestions go into the failure's JSON document as
// its Name does: a NUL or invalid UTF-8 there was recorded replaced by
// U+FFFD, and an empty suggestion was dropped without a word.
func TestDiagnosisRuleTextRefused(t *testing.T) {
	s := testkit.NewEngine(t, nil).Store
	match := func(error) bool { return false }
	cfg := engine.Config{Store: s, DiagnosisRules: []engine.DiagnosisRule{
		{Name: "nul", Match: match, Insight: "a\x00b"},
		{Name: "utf", Match: match, Insight: "bad\xff"},
		{Name: "sugg", Match: match, Insight: "fine", Suggestions: []string{"ok", "x\x00y", "bad\xfe", ""}},
	}}
	err := cfg.Validate()
	for _, want := range []string{`rules[0] "nul" Insight "a\x00b" contains a NUL byte`, `rules[1] "utf" Insight "bad\xff" is not valid UTF-8`,
		`rules[2] "sugg" Suggestions[1] "x\x00y" contains a NUL byte`, `rules[2] "sugg" Suggestions[2] "bad\xfe" is not valid UTF-8`,
		`rules[2] "sugg" Suggestions[3] is empty`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "Suggestions[0]") {
		t.Errorf("Validate refused a good suggestion: %v", err)
	}
	if _, err := engine.New(cfg); err == nil {
		t.Fatal("New accepted bad rule text")
	}
	cfg.DiagnosisRules = []engine.DiagnosisRule{{Name: "good", Match: match, Suggestions: []string{"do this"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate refused a good rule without an Insight: %v", err)
	}
}

// A code-first workflow that fails with its durable step's failure fails
// with that step's diagnosis, as Explain shows the step's own: it was
// diagnosed again as the workflow driver's, the failure naming step s and
// its attempt 2 while its diagnosis said "attempt 1 was the last of 10
// allowed" and suggested raising a RetryLimit from 10 to 12.
func TestDurableStepFailureKeepsItsDiagnosis(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "d/wf", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.Step(wctx, "s", func(context.Context) (int, error) { return 0, errors.New("boom") }, engine.WithStepRetryLimit(2))
	}))
	w, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "d/wf", 1)
	must(t, err)
	env.RunUntilDone(w.TaskID)
	f := lastFailure(t, env, w.TaskID)
	if f.Step != "s" || f.Attempt != 2 || f.Kind != engine.KindExhausted || f.Diagnosis == nil {
		t.Fatalf("failure %+v, want step s's second and last attempt, diagnosed", f)
	}
	if !slices.Contains(f.Diagnosis.Insights, "attempt 2 was the last of 2 allowed") {
		t.Fatalf("diagnosis %+v, want the step's attempts (2 of 2), not the workflow driver's", f.Diagnosis)
	}
	// A durable step's option is named (it has no RetryLimit field).
	if !slices.Contains(f.Diagnosis.Suggestions, "raise the step's WithStepRetryLimit from 2 to 4 if the failure is passing") {
		t.Fatalf("suggestions %q, want WithStepRetryLimit named", f.Diagnosis.Suggestions)
	}
}

// A step that makes one attempt (NotRetryable, WithStepNoRetry) is
// diagnosed as such: its failure said "attempt 1 was the last of 3
// allowed" (10 for a durable step) and suggested raising its RetryLimit,
// which the template refuses beside NotRetryable and which a durable
// step's WithStepNoRetry overrides.
func TestDiagnosisOfAStepThatRunsOnce(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	boom := errors.New("boom")
	must(t, env.HandleFunc("bad", func(*engine.StepContext) (any, error) { return nil, boom }))
	must(t, env.Register(&engine.Template{Namespace: "d", Name: "once", Steps: []engine.StepTemplate{{Name: "a", Handler: "bad", NotRetryable: true}}}))
	must(t, engine.RegisterWorkflow(env.Engine, "d/wf", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.Step(wctx, "s", func(context.Context) (int, error) { return 0, boom }, engine.WithStepNoRetry())
	}))
	h, err := env.Start(context.Background(), "d/once", nil)
	must(t, err)
	w, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "d/wf", 1)
	must(t, err)
	for _, c := range []struct {
		id     int64
		option string
	}{{h.TaskID, "NotRetryable"}, {w.TaskID, "WithStepNoRetry"}} {
		env.RunUntilDone(c.id)
		d := lastFailure(t, env, c.id).Diagnosis
		if d == nil || !slices.Contains(d.Rules, "out_of_attempts") {
			t.Fatalf("task %d: diagnosis %+v, want out_of_attempts", c.id, d)
		}
		if !slices.ContainsFunc(d.Insights, func(s string) bool { return strings.Contains(s, "not retryable") }) ||
			slices.ContainsFunc(d.Suggestions, func(s string) bool { return strings.Contains(s, "RetryLimit") }) ||
			!slices.ContainsFunc(d.Suggestions, func(s string) bool { return strings.Contains(s, c.option) }) {
			t.Fatalf("task %d: diagnosis %+v: want it to say the step is not retryable and point to %s, not to its RetryLimit", c.id, d, c.option)
		}
	}
}

// A durable step's timeout suggestion names its option, WithStepTimeout:
// it named a Timeout field only templates have. (The step runs out of its
// own time: a call's deadline is not the step's, see
// TestDiagnosisOfACallTimeoutIsNotTheStepsTimeout.)
func TestDiagnosisOfADurableStepTimeoutNamesItsOption(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "d/slow", func(wctx *engine.WorkflowContext, in int) (int, error) {
		return engine.Step(wctx, "call", func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() },
			engine.WithStepTimeout(50*time.Millisecond), engine.WithStepNoRetry())
	}))
	w, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "d/slow", 1)
	must(t, err)
	env.RunUntilDone(w.TaskID)
	d := lastFailure(t, env, w.TaskID).Diagnosis
	if d == nil || !slices.Contains(d.Rules, "timeout") ||
		!slices.ContainsFunc(d.Suggestions, func(s string) bool { return strings.HasPrefix(s, "raise the step's WithStepTimeout from 50ms") }) {
		t.Fatalf("diagnosis %+v, want the timeout rule naming WithStepTimeout", d)
	}
}

// A 429 whose handler already returned engine.Retryable with the
// Retry-After's delay is not told to do so: the diagnosis said "return
// engine.Retryable(err, d) with the Retry-After header's delay" to the
// handler doing exactly that.
func TestDiagnosisOf429HonouredRetryAfter(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("pay", func(*engine.StepContext) (any, error) {
		return nil, engine.Retryable(errors.New("429 Too Many Requests"), 30*time.Second)
	}))
	must(t, env.Register(&engine.Template{Namespace: "shop", Name: "pay", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "pay", DependentSystem: "payments"}}}))
	ctx := context.Background()
	h, err := env.Start(ctx, "shop/pay", nil)
	must(t, err)
	if n, err := env.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("first attempt: %d, %v", n, err)
	}
	ex, err := env.Explain(ctx, h.TaskID)
	must(t, err)
	d := ex.Steps[0].Diagnosis
	if d == nil || !slices.Contains(d.Rules, "http_429") {
		t.Fatalf("diagnosis %+v, want the http_429 rule", d)
	}
	for _, s := range d.Suggestions {
		if strings.Contains(s, "return engine.Retryable(err, d)") {
			t.Errorf("the handler returned Retryable with the delay, and is told to: %q", s)
		}
	}
	if !slices.ContainsFunc(d.Suggestions, func(s string) bool { return strings.Contains(s, "RateLimit") }) {
		t.Errorf("suggestions %q lack the system's RateLimit", d.Suggestions)
	}
	if !slices.ContainsFunc(d.Insights, func(s string) bool {
		return strings.Contains(s, "the handler passed its delay on (engine.Retryable, 30s)")
	}) {
		t.Errorf("insights %q do not say the handler passed its 30s on", d.Insights)
	}
}

// A durable step's 429 is not told to declare its system's RateLimit on
// the template: a code-first workflow has none, and a template's rate
// limits do not apply to durable steps (see WithStepDependentSystem).
func TestDiagnosisOfADurableSteps429(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Retry: retryFast}})
	must(t, engine.RegisterWorkflow(env.Engine, "t/pay", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.Step(wctx, "charge", func(context.Context) (int, error) {
			return 0, errors.New("429 Too Many Requests")
		}, engine.WithStepRetryLimit(1))
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[int, int](ctx, env.Engine, "t/pay", 1)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	f := lastFailure(t, env, h.TaskID)
	d := f.Diagnosis
	if d == nil || !slices.Contains(d.Rules, "http_429") {
		t.Fatalf("diagnosis %+v, want the http_429 rule", d)
	}
	for _, s := range d.Suggestions {
		if strings.Contains(s, "RateLimit") {
			t.Errorf("a durable step is told to declare a RateLimit, which does not apply to it: %q", s)
		}
	}
	if !slices.ContainsFunc(d.Suggestions, func(s string) bool { return strings.Contains(s, "return engine.Retryable(err, d)") }) {
		t.Errorf("suggestions %q lack passing the Retry-After on", d.Suggestions)
	}
}

// A step failed by its task's WithWorkflowTimeout is diagnosed as that,
// not as its own attempt's timeout: the failure's message ("workflow
// timed out") read as a timeout, and the diagnosis said "the attempt ran
// out of time (its timeout is 5s)" and "raise the step's Timeout from 5s",
// which has nothing to do with it.
func TestDiagnosisOfAWorkflowTimeout(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("down", func(*engine.StepContext) (any, error) { return nil, errors.New("down") }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "late", Steps: []engine.StepTemplate{{Name: "s", Handler: "down",
		Timeout: 5 * time.Second, Backoff: retry.Policy{Base: 2 * time.Minute, Max: 2 * time.Minute, NoJitter: true}}}}))
	ctx := context.Background()
	h, err := env.Start(ctx, "t/late", nil, engine.WithWorkflowTimeout(time.Minute))
	must(t, err)
	env.RunUntilDone(h.TaskID)
	f := lastFailure(t, env, h.TaskID)
	if f.Kind != engine.KindWorkflowTimeout || f.Diagnosis == nil {
		t.Fatalf("failure %+v, want workflow_timeout with a diagnosis", f)
	}
	d := f.Diagnosis
	for _, s := range append(slices.Clone(d.Insights), d.Suggestions...) {
		if strings.Contains(s, "its timeout is 5s") || strings.Contains(s, "raise the step's Timeout") {
			t.Errorf("the diagnosis speaks of the step's own timeout: %q", s)
		}
	}
	if !slices.ContainsFunc(d.Suggestions, func(s string) bool { return strings.Contains(s, "WithWorkflowTimeout") }) {
		t.Errorf("suggestions %q do not name WithWorkflowTimeout", d.Suggestions)
	}
}

// A result over Config.MaxPayloadBytes fails its step with a diagnosis,
// as every recorded failure carries one (Diagnosis): it was recorded
// without any, so Explain and tasks show said nothing of what to do.
func TestDiagnosisOfAnOversizedResult(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{MaxPayloadBytes: 1024}})
	must(t, env.HandleFunc("big", func(*engine.StepContext) (any, error) { return strings.Repeat("x", 2048), nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "big", Steps: []engine.StepTemplate{{Name: "s", Handler: "big"}}}))
	h, err := env.Start(context.Background(), "t/big", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	f := lastFailure(t, env, h.TaskID)
	if f.Kind != engine.KindPayloadTooLarge {
		t.Fatalf("failure %+v, want payload_too_large", f)
	}
	d := f.Diagnosis
	if d == nil || !slices.Contains(d.Rules, "payload_too_large") || d.System.MaxConcurrency == 0 {
		t.Fatalf("diagnosis %+v, want the payload_too_large rule and a system snapshot", d)
	}
	if !slices.ContainsFunc(d.Suggestions, func(s string) bool { return strings.Contains(s, "MaxPayloadBytes") }) {
		t.Errorf("suggestions %q do not name MaxPayloadBytes", d.Suggestions)
	}
	// A durable step's is diagnosed alike.
	must(t, engine.RegisterWorkflow(env.Engine, "t/bigdurable", func(wctx *engine.WorkflowContext, _ int) (string, error) {
		return engine.Step(wctx, "s", func(context.Context) (string, error) { return strings.Repeat("x", 2048), nil })
	}))
	w, err := engine.StartWorkflow[int, string](context.Background(), env.Engine, "t/bigdurable", 1)
	must(t, err)
	env.RunUntilDone(w.TaskID)
	if d := lastFailure(t, env, w.TaskID).Diagnosis; d == nil || !slices.Contains(d.Rules, "payload_too_large") {
		t.Fatalf("durable step's diagnosis %+v, want the payload_too_large rule", d)
	}
}

// A retried failure's Diagnosis.Class is its BackoffDecision.ErrorClass,
// as documented: "unknown" for an error no class fits, which the diagnosis
// left empty (and its JSON omitted).
func TestDiagnosisClassIsTheBackoffsErrorClass(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	fails := map[string]error{"odd": errQuota, "down": errors.New("503 Service Unavailable")}
	for name, err := range fails {
		must(t, env.HandleFunc(name, func(*engine.StepContext) (any, error) { return nil, err }))
		must(t, env.Register(&engine.Template{Namespace: "d", Name: name, PredictiveRetry: true, Steps: []engine.StepTemplate{
			{Name: "s", Handler: name, RetryLimit: 3, Backoff: retry.Policy{Base: time.Minute, Max: time.Hour}}}}))
	}
	ctx := context.Background()
	for name, want := range map[string]string{"odd": "unknown", "down": "http_5xx"} {
		h, err := env.Start(ctx, "d/"+name, nil)
		must(t, err)
		if _, err := env.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		ex, err := env.Explain(ctx, h.TaskID)
		must(t, err)
		s := ex.Steps[0]
		if s.Diagnosis == nil || s.Backoff == nil {
			t.Fatalf("%s: diagnosis %+v, backoff %+v; want both", name, s.Diagnosis, s.Backoff)
		}
		if s.Diagnosis.Class != s.Backoff.ErrorClass || s.Diagnosis.Class != want {
			t.Errorf("%s: Diagnosis.Class %q, BackoffDecision.ErrorClass %q; want both %q", name, s.Diagnosis.Class, s.Backoff.ErrorClass, want)
		}
	}
}

// An error that says a call timed out ("payment gateway timed out", a
// client's deadline) while the step's own Timeout had not passed is not
// diagnosed as the attempt running out of its time: the demo's first
// failure read "the attempt ran out of time (its timeout is 30s)" and
// "raise the step's Timeout from 30s" for an attempt of a few
// milliseconds. An attempt that did run out of its own time, on its last
// attempt too (recorded as retries_exhausted), still is.
func TestDiagnosisOfACallTimeoutIsNotTheStepsTimeout(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("gateway", func(*engine.StepContext) (any, error) {
		return nil, errors.New("charging: payment gateway timed out")
	}))
	must(t, env.HandleFunc("slow", func(sc *engine.StepContext) (any, error) {
		<-sc.Done() // the attempt's own deadline
		return nil, sc.Err()
	}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "call", Steps: []engine.StepTemplate{{Name: "s", Handler: "gateway",
		Timeout: 5 * time.Second, RetryLimit: 1}}}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "slow", Steps: []engine.StepTemplate{{Name: "s", Handler: "slow",
		Timeout: 50 * time.Millisecond, RetryLimit: 1}}}))
	ctx := context.Background()

	h, err := env.Start(ctx, "t/call", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	d := lastFailure(t, env, h.TaskID).Diagnosis
	if d == nil || !slices.Contains(d.Rules, "timeout") {
		t.Fatalf("diagnosis %+v, want the timeout rule", d)
	}
	for _, s := range append(slices.Clone(d.Insights), d.Suggestions...) {
		if strings.Contains(s, "ran out of time") || strings.Contains(s, "raise the step's Timeout") {
			t.Errorf("a call's timeout is diagnosed as the step's own: %q", s)
		}
	}

	h, err = env.Start(ctx, "t/slow", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	d = lastFailure(t, env, h.TaskID).Diagnosis
	if d == nil || !slices.ContainsFunc(d.Insights, func(s string) bool { return strings.Contains(s, "ran out of time (its timeout is 50ms)") }) ||
		!slices.ContainsFunc(d.Suggestions, func(s string) bool { return strings.Contains(s, "raise the step's Timeout from 50ms") }) {
		t.Errorf("the step's own timeout on its last attempt: diagnosis %+v", d)
	}
}
