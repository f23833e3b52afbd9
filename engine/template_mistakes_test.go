package engine_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
)

// TestRegisterRefusesTemplateMistakes: Register accepted a nil template
// (it panicked), a rate limit for a system no step names (it limited
// nothing: a typo or a case mismatch went unnoticed) and a retry limit on
// a step that is not retryable (it ran once) and a step timeout under a
// millisecond (Timeout: 30 is 30 ns: every attempt timed out) and a
// backoff on a step that makes one attempt (it waited for no retry); each is now refused with
// ErrInvalidTemplate naming the field, and YAML locates it in the file.
func TestRegisterRefusesTemplateMistakes(t *testing.T) {
	e := newEngine(t, engine.Config{})
	if err := e.Register(nil); !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), "the template is nil") {
		t.Fatalf("Register(nil): %v", err)
	}
	err := e.Register(&engine.Template{Namespace: "t", Name: "rate", RateLimits: map[string]engine.RateLimit{"stripe": {PerSecond: 1, Burst: 1}},
		Steps: []engine.StepTemplate{{Name: "a", Handler: "h", DependentSystem: "Stripe"}}})
	ps := engine.TemplateProblems(err)
	if len(ps) != 1 || ps[0].Path != "rate_limits.stripe" || !strings.Contains(ps[0].Msg, `no step has dependent system "stripe"`) {
		t.Fatalf("unused rate limit: %v", err)
	}
	err = e.Register(&engine.Template{Namespace: "t", Name: "once", Steps: []engine.StepTemplate{{Name: "a", Handler: "h", NotRetryable: true, RetryLimit: 5}}})
	ps = engine.TemplateProblems(err)
	if len(ps) != 1 || ps[0].Path != "steps[0].retry.limit" || !strings.Contains(ps[0].Msg, "retry limit 5 on a step that is not retryable") {
		t.Fatalf("retry limit on a step that is not retryable: %v", err)
	}
	for _, st := range []engine.StepTemplate{{Name: "a", Handler: "h", NotRetryable: true, Backoff: retry.Policy{Base: time.Minute}},
		{Name: "a", Handler: "h", RetryLimit: 1, Backoff: retry.Policy{NoJitter: true}}} {
		err = e.Register(&engine.Template{Namespace: "t", Name: "once", Steps: []engine.StepTemplate{st}})
		ps = engine.TemplateProblems(err)
		if len(ps) != 1 || ps[0].Path != "steps[0].retry" || !strings.Contains(ps[0].Msg, "a backoff (retry base, max or no-jitter) on a step that makes one attempt") {
			t.Fatalf("a backoff on a step that runs once (%+v): %v", st, err)
		}
	}
	err = e.Register(&engine.Template{Namespace: "t", Name: "ns", Steps: []engine.StepTemplate{{Name: "a", Handler: "h", Timeout: 30}}})
	ps = engine.TemplateProblems(err)
	if len(ps) != 1 || ps[0].Path != "steps[0].timeout" || !strings.Contains(ps[0].Msg, "timeout 30ns is under a millisecond") {
		t.Fatalf("a timeout of 30 (nanoseconds): %v", err)
	}
	if got := e.Templates(); len(got) != 0 {
		t.Fatalf("refused registrations registered %v", got)
	}
	path := writeTemplate(t, `
namespace: t
name: y
rate_limits:
  payment: {per_second: 5, burst: 1}
steps:
  - name: a
    handler: h
    dependent_system: payments
    retryable: false
    retry: {limit: 4}
  - name: b
    handler: h
    retry: {limit: 1, base: 5s}
`)
	_, err = engine.LoadTemplateFile(path, "")
	for _, want := range []string{path + ":4:3: rate_limits.payment:", path + ":10:13: steps[0].retry.limit:", path + ":13:5: steps[1].retry:"} {
		if !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("YAML: %v does not say %q", err, want)
		}
	}
	// Consistent declarations are accepted.
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "fine", RateLimits: map[string]engine.RateLimit{"stripe": {PerSecond: 1, Burst: 1}},
		Steps: []engine.StepTemplate{{Name: "a", Handler: "h", DependentSystem: "stripe"}, {Name: "b", Handler: "h", NotRetryable: true, RetryLimit: 1}}}))
}

// TestRegisterRefusesWhatNoStartCouldStore: a step's DependentSystem with a
// NUL byte or invalid UTF-8, or a Config holding a NUL character, is refused
// by Register naming the step and field. Register accepted them, and every
// Start of the template then failed in the store ("steps[\"a\"].policy:
// contains a NUL character"; invalid UTF-8 became U+FFFD in the stored
// policy, another system than the one declared).
func TestRegisterRefusesWhatNoStartCouldStore(t *testing.T) {
	e := newEngine(t, engine.Config{})
	for _, c := range []struct {
		step       engine.StepTemplate
		path, want string
	}{
		{engine.StepTemplate{Name: "a", Handler: "h", DependentSystem: "pay\x00"}, "steps[0].dependent_system", `step "a": dependent system "pay\x00" contains a NUL byte`},
		{engine.StepTemplate{Name: "a", Handler: "h", DependentSystem: "pay\xff"}, "steps[0].dependent_system", `is not valid UTF-8`},
		{engine.StepTemplate{Name: "a", Handler: "h", Config: map[string]string{"url": "a\x00b"}}, "steps[0].config", `step "a": config: it contains a NUL character (\u0000), which the store refuses`},
	} {
		err := e.Register(&engine.Template{Namespace: "t", Name: "nul", Steps: []engine.StepTemplate{c.step}})
		ps := engine.TemplateProblems(err)
		if !errors.Is(err, engine.ErrInvalidTemplate) || len(ps) != 1 || ps[0].Path != c.path || !strings.Contains(ps[0].Msg, c.want) {
			t.Errorf("Register(%+v): %v; want one problem at %s saying %q", c.step, err, c.path, c.want)
		}
	}
	if got := e.Templates(); len(got) != 0 {
		t.Fatalf("refused registrations registered %v", got)
	}
}

// A step listing itself (or an unknown step) twice in DependsOn was told
// "depends on itself" ("depends on unknown step") twice, one problem
// counted as two; the second listing is reported as the duplicate it is.
func TestValidateSelfDependencyListedTwice(t *testing.T) {
	err := (&engine.Template{Namespace: "t", Name: "self", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "h", DependsOn: []string{"a", "a"}},
		{Name: "b", Handler: "h", DependsOn: []string{"zz", "zz"}}}}).Validate(nil)
	ps := engine.TemplateProblems(err)
	var msgs []string
	for _, p := range ps {
		msgs = append(msgs, p.Msg)
	}
	want := []string{`step "a" depends on itself`, `step "a" lists dependency "a" twice`,
		`step "b" depends on unknown step "zz"`, `step "b" lists dependency "zz" twice`}
	if fmt.Sprint(msgs) != fmt.Sprint(want) {
		t.Fatalf("problems %q, want %q", msgs, want)
	}
}

// Validate reports every problem at once, but only the first dependency
// cycle it met: a second one came to light once the first was fixed, and a
// step on itself hid every cycle (it was the cycle found, and reported as
// a self-dependency only). Each cycle is now named.
func TestValidateNamesEveryCycle(t *testing.T) {
	err := (&engine.Template{Namespace: "t", Name: "cycles", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "h", DependsOn: []string{"a"}},
		{Name: "b", Handler: "h", DependsOn: []string{"c"}},
		{Name: "c", Handler: "h", DependsOn: []string{"b"}},
		{Name: "d", Handler: "h", DependsOn: []string{"e"}},
		{Name: "e", Handler: "h", DependsOn: []string{"d"}},
		{Name: "f", Handler: "h", DependsOn: []string{"b", "d"}}}}).Validate(nil)
	var got []string
	for _, p := range engine.TemplateProblems(err) {
		got = append(got, p.Path+": "+p.Msg)
	}
	want := []string{`steps[0].depends_on: step "a" depends on itself`,
		"steps[1].depends_on: dependency cycle: b → c → b", "steps[3].depends_on: dependency cycle: d → e → d"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("problems\n%q\nwant\n%q", got, want)
	}
}

// A template missing its name (or its namespace) was called "ns/" (or
// "/x") in every problem, "template ns/: name: name is required": half a
// name is not the workflow's, and TemplateError.Template is the name
// "when known". It is left empty then.
func TestTemplateErrorWithoutAFullName(t *testing.T) {
	for _, tm := range []*engine.Template{{Namespace: "ns"}, {Name: "x"}} {
		ps := engine.TemplateProblems(tm.Validate(nil))
		if len(ps) == 0 {
			t.Fatalf("%+v validated", tm)
		}
		for _, p := range ps {
			if p.Template != "" || strings.HasPrefix(p.Error(), "template ") {
				t.Errorf("%+v: problem %q names template %q", tm, p, p.Template)
			}
		}
	}
	ps := engine.TemplateProblems((&engine.Template{Namespace: "ns", Name: "x"}).Validate(nil))
	if len(ps) != 1 || ps[0].Template != "ns/x" {
		t.Fatalf("a named template's problems %v do not name it", ps)
	}
}

// A dependent system's name with spaces around it (or only spaces) is
// refused at registration, naming the step and the field, as a step's or
// a handler's name is: "payments " is another system than "payments",
// sharing neither its breaker, its pauses nor its rate limit, and Register
// took it without a word (YAML's quoted dependent_system: "payments "
// alike). A rate limit's system is checked alike. Inner spaces are a name
// as any other's ("card api").
func TestRegisterRefusesPaddedSystemNames(t *testing.T) {
	e := newEngine(t, engine.Config{})
	for _, c := range []struct {
		tmpl       engine.Template
		path, want string
	}{
		{engine.Template{Steps: []engine.StepTemplate{{Name: "a", Handler: "h", DependentSystem: "payments "}}},
			"steps[0].dependent_system", `step "a": dependent system "payments " has spaces around it: write "payments"`},
		{engine.Template{Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}, {Name: "b", Handler: "h", DependentSystem: "\tpayments"}}},
			"steps[1].dependent_system", `step "b": dependent system "\tpayments" has spaces around it: write "payments"`},
		{engine.Template{Steps: []engine.StepTemplate{{Name: "a", Handler: "h", DependentSystem: "  "}}},
			"steps[0].dependent_system", `step "a": dependent system "  " is blank`},
		{engine.Template{RateLimits: map[string]engine.RateLimit{" payments": {PerSecond: 1, Burst: 1}},
			Steps: []engine.StepTemplate{{Name: "a", Handler: "h", DependentSystem: " payments"}}},
			"rate_limits. payments", `system " payments" has spaces around it: write "payments"`},
	} {
		tmpl := c.tmpl
		tmpl.Namespace, tmpl.Name = "t", "padded"
		err := e.Register(&tmpl)
		ps := engine.TemplateProblems(err)
		if !errors.Is(err, engine.ErrInvalidTemplate) || !slices.ContainsFunc(ps, func(p *engine.TemplateError) bool {
			return p.Path == c.path && strings.Contains(p.Msg, c.want)
		}) {
			t.Errorf("Register(%+v): %v; want a problem at %s saying %q", c.tmpl, err, c.path, c.want)
		}
	}
	if got := e.Templates(); len(got) != 0 {
		t.Fatalf("refused registrations registered %v", got)
	}
	path := writeTemplate(t, `
namespace: t
name: y
steps:
  - name: charge
    handler: h
    dependent_system: "payments "
`)
	_, err := engine.LoadTemplateFile(path, "")
	if want := path + `:6:5: steps[0].dependent_system: step "charge": dependent system "payments " has spaces around it: write "payments"`; !strings.Contains(fmt.Sprint(err), want) {
		t.Errorf("YAML: %v does not say %q", err, want)
	}
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "inner", RateLimits: map[string]engine.RateLimit{"card api": {PerSecond: 1, Burst: 1}},
		Steps: []engine.StepTemplate{{Name: "a", Handler: "h", DependentSystem: "card api"}}}))
}

// TestInputSchemaOfAnUnknownDraftIsNamedSo: an input schema whose $schema
// names a draft the validator does not know (draft-03) was refused as a
// "$ref" naming another document, a keyword the schema does not have; the
// error now names $schema, the draft, and the drafts that are known.
func TestInputSchemaOfAnUnknownDraftIsNamedSo(t *testing.T) {
	e := newEngine(t, engine.Config{})
	err := e.Register(&engine.Template{Namespace: "t", Name: "draft3", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}},
		InputSchema: []byte(`{"$schema": "http://json-schema.org/draft-03/schema#", "type": "object"}`)})
	ps := engine.TemplateProblems(err)
	if len(ps) != 1 || ps[0].Path != "input_schema" || ps[0].Template != "t/draft3" ||
		!strings.Contains(ps[0].Msg, `$schema "http://json-schema.org/draft-03/schema#" is not a draft this validator knows`) ||
		!strings.Contains(ps[0].Msg, "2020-12") || strings.Contains(ps[0].Msg, "$ref") {
		t.Fatalf("draft-03 input schema: %v", err)
	}
	// A $ref to another document is still named as such.
	err = e.Register(&engine.Template{Namespace: "t", Name: "ref", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}},
		InputSchema: []byte(`{"$ref": "other.json"}`)})
	if !strings.Contains(fmt.Sprint(err), `$ref "other.json" names another document`) {
		t.Fatalf("$ref to another document: %v", err)
	}
	// Known drafts compile.
	for _, s := range []string{"http://json-schema.org/draft-04/schema#", "http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft/2020-12/schema"} {
		must(t, e.Register(&engine.Template{Namespace: "t", Name: "ok" + fmt.Sprint(len(e.Templates())), Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}},
			InputSchema: []byte(`{"$schema": "` + s + `", "type": "object"}`)}))
	}
}

// TestRegisterRefusesAConcurrencyKeyNoInputHas: a Concurrency.Key with a
// NUL byte, invalid UTF-8 or spaces around it registered, and then every
// start failed (the input, decoded from JSON, has no such field, or the
// group built from it was refused by the store); it is refused at
// Register, naming the template and the field, and in YAML its place.
func TestRegisterRefusesAConcurrencyKeyNoInputHas(t *testing.T) {
	e := newEngine(t, engine.Config{})
	for _, key := range []string{"id\x00", "id\xff", " customer_id"} {
		err := e.Register(&engine.Template{Namespace: "t", Name: "conc", Concurrency: &engine.Concurrency{Max: 1, Key: key},
			Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}})
		ps := engine.TemplateProblems(err)
		if len(ps) != 1 || ps[0].Path != "concurrency.key" || ps[0].Template != "t/conc" || !strings.Contains(ps[0].Msg, "concurrency key") {
			t.Errorf("Concurrency.Key %q: %v", key, err)
		}
	}
	path := writeTemplate(t, `
namespace: t
name: y
concurrency: {max: 1, key: " customer_id"}
steps: [{name: a, handler: h}]
`)
	_, err := engine.LoadTemplateFile(path, "")
	if want := path + ":3:23: concurrency.key: concurrency key"; !strings.Contains(fmt.Sprint(err), want) {
		t.Errorf("YAML: %v does not say %q", err, want)
	}
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "conc", Concurrency: &engine.Concurrency{Max: 1, Key: "customer id"},
		Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
}

// TestRegisterRefusesAConfigNoStartCouldStore: a step's config over the
// store's document limit (store.MaxJSONBytes) registered, and then every
// start failed in the store; it is refused at Register, naming the
// template, the step and the field.
func TestRegisterRefusesAConfigNoStartCouldStore(t *testing.T) {
	e := newEngine(t, engine.Config{})
	err := e.Register(&engine.Template{Namespace: "t", Name: "big", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "h"}, {Name: "b", Handler: "h", Config: map[string]string{"blob": strings.Repeat("x", store.MaxJSONBytes)}}}})
	ps := engine.TemplateProblems(err)
	if len(ps) != 1 || ps[0].Path != "steps[1].config" || ps[0].Template != "t/big" || !strings.Contains(ps[0].Msg, `step "b": config is 8388619 bytes as JSON, over the store's limit of 8388608 (store.MaxJSONBytes)`) {
		t.Fatalf("an oversized config: %v", err)
	}
	if got := e.Templates(); len(got) != 0 {
		t.Fatalf("refused registration registered %v", got)
	}
}

// A concurrency key the template's input schema allows no input to have
// (additionalProperties false, the key not among its properties) is
// refused at Register, naming the key and the closest property: every
// start would be refused, its input lacking the key or failing the schema.
// A key the schema lists, or may let through, is taken.
func TestConcurrencyKeyTheSchemaForbidsIsRefused(t *testing.T) {
	e := newEngine(t, engine.Config{})
	tmpl := func(key, schema string) *engine.Template {
		return &engine.Template{Namespace: "t", Name: "k", Concurrency: &engine.Concurrency{Max: 1, Key: key}, InputSchema: []byte(schema),
			Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}
	}
	closed := `{"type": "object", "properties": {"customer_id": {"type": "integer"}}, "additionalProperties": false}`
	err := e.Register(tmpl("customerid", closed))
	ps := engine.TemplateProblems(err)
	if len(ps) != 1 || ps[0].Path != "concurrency.key" || !strings.Contains(ps[0].Msg, `"customerid"`) || !strings.Contains(ps[0].Msg, `"customer_id"`) {
		t.Fatalf("a key the schema forbids: %v", err)
	}
	for i, schema := range []string{`{"type": "object", "properties": {"customer_id": {}}}`, `{"additionalProperties": false, "patternProperties": {"^c": {}}}`} {
		if err := e.Register(tmpl("customerid", schema)); err != nil {
			t.Fatalf("schema %d: a key the schema may let through was refused: %v", i, err)
		}
		e = newEngine(t, engine.Config{})
	}
	if err := e.Register(tmpl("customer_id", closed)); err != nil {
		t.Fatalf("a key the schema lists: %v", err)
	}
}
