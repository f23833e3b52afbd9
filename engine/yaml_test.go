package engine_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// writeTemplate writes src to a file in a fresh directory.
func writeTemplate(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "order.yaml")
	must(t, os.WriteFile(path, []byte(strings.TrimPrefix(src, "\n")), 0o600))
	return path
}

// problems loads path and returns its problems as "line:col path: msg",
// failing unless each is a *TemplateError naming the file.
func problems(t *testing.T, path, env string) []*engine.TemplateError {
	t.Helper()
	tmpl, err := engine.LoadTemplateFile(path, env)
	if err == nil {
		t.Fatalf("loaded %+v, want an error", tmpl)
	}
	if !errors.Is(err, engine.ErrInvalidTemplate) {
		t.Fatalf("error %v does not match ErrInvalidTemplate", err)
	}
	ps := engine.TemplateProblems(err)
	if len(ps) == 0 {
		t.Fatalf("error %v holds no TemplateError", err)
	}
	for _, p := range ps {
		if p.File != path || !strings.HasPrefix(p.Error(), path+":") {
			t.Errorf("problem %q does not name the file %s", p, path)
		}
	}
	return ps
}

// find returns the problem at path.
func find(t *testing.T, ps []*engine.TemplateError, path string) *engine.TemplateError {
	t.Helper()
	for _, p := range ps {
		if p.Path == path {
			return p
		}
	}
	t.Fatalf("no problem at %s among %v", path, ps)
	return nil
}

func TestYAMLUnknownKeysAndBadValuesNameTheirPlace(t *testing.T) {
	path := writeTemplate(t, `
namespace: shop
name: order
steps:
  - name: validate
    handler: shop.validate
  - name: charge
    handler: shop.charge
    depends_ob: [validate]
    retry: {limit: "five", base: soon}
    retryable: yes
  - name: ship
    handler: shop.ship
    timeout: 30
colour: blue
`)
	ps := problems(t, path, "")
	want := []struct {
		path      string
		line, col int
		msg       []string
	}{
		{"steps[1].depends_ob", 8, 5, []string{`unknown key "depends_ob"`, `did you mean "depends_on"`}},
		{"steps[1].retry.limit", 9, 13, []string{"must be an integer", `"five"`}},
		{"steps[1].retry.base", 9, 28, []string{"duration", `"soon"`}},
		{"steps[1].retryable", 10, 5, []string{"true or false"}},
		{"steps[2].timeout", 13, 5, []string{"duration", "30"}},
		{"colour", 14, 1, []string{`unknown key "colour"`}},
	}
	for _, w := range want {
		p := find(t, ps, w.path)
		if p.Line != w.line || p.Column != w.col {
			t.Errorf("%s at %d:%d, want %d:%d", w.path, p.Line, p.Column, w.line, w.col)
		}
		for _, m := range w.msg {
			if !strings.Contains(p.Msg, m) {
				t.Errorf("%s: %q does not mention %s", w.path, p.Msg, m)
			}
		}
		// The message speaks YAML, not Go.
		for _, goName := range []string{"Go struct", "yamlStep", "yamlRetry", "int64", "uint64", "*bool"} {
			if strings.Contains(p.Error(), goName) {
				t.Errorf("%s: %q names a Go type", w.path, p)
			}
		}
	}
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d: %v", len(ps), len(want), ps)
	}
	if got := find(t, ps, "steps[1].retry.limit").Error(); !strings.HasPrefix(got, path+":9:13: steps[1].retry.limit: ") {
		t.Errorf("error reads %q, want file:line:col: path: message", got)
	}
}

func TestYAMLEnvironments(t *testing.T) {
	path := writeTemplate(t, `
namespace: shop
name: order
steps:
  - name: charge
    handler: shop.charge
    retry: {limit: 3, base: 1s}
    config: {url: https://pay.example, currency: EUR}
environments:
  development:
    steps:
      - {name: charge, config: {url: http://localhost}, retry: {limit: 5}}
  staging:
    steps:
      - name: charge
        timeout: later
  qa:
    step: []
`)
	// Every environment is checked, whichever is selected.
	ps := problems(t, path, "development")
	if p := find(t, ps, "environments.staging.steps[0].timeout"); p.Line != 15 || !strings.Contains(p.Msg, "duration") {
		t.Errorf("staging timeout: %v", p)
	}
	if p := find(t, ps, "environments.qa.step"); p.Line != 17 || !strings.Contains(p.Msg, `did you mean "steps"`) {
		t.Errorf("qa: %v", p)
	}
	// A problem in the selected environment is reported once, at its line
	// in the environment.
	ps = problems(t, path, "staging")
	n := 0
	for _, p := range ps {
		if p.Line == 15 {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the staging timeout is reported %d times: %v", n, ps)
	}

	good := writeTemplate(t, `
namespace: shop
name: order
steps:
  - name: charge
    handler: shop.charge
    retry: {limit: 3, base: 1s}
    config: {url: https://pay.example, currency: EUR}
environments:
  development:
    steps:
      - {name: charge, config: {url: http://localhost}, retry: {limit: 5}}
      - {name: audit, handler: shop.audit, depends_on: [charge, ghost]}
  production: {}
`)
	// A name not in the file is an error listing those that are.
	ps = problems(t, good, "prod")
	if len(ps) != 1 || !strings.Contains(ps[0].Msg, `"prod"`) || !strings.Contains(ps[0].Msg, "development, production") {
		t.Errorf("unknown environment: %v", ps)
	}
	// An environment's step that is wrong is located in the environment.
	ps = problems(t, good, "development")
	if p := find(t, ps, "steps[1].depends_on"); p.Line != 12 || !strings.Contains(p.Msg, `unknown step "ghost"`) {
		t.Errorf("the added step's dependency: %v", p)
	}
	prod, err := engine.LoadTemplateFile(good, "production")
	must(t, err)
	if len(prod.Steps) != 1 || prod.Steps[0].RetryLimit != 3 {
		t.Errorf("production = %+v", prod.Steps)
	}
}

// An environment's step whose name the base does not have was added as a
// new step: a misspelt override without a handler failed as "handler is
// required" with --env, and passed without. It is refused, in every
// environment, naming the step, the environment and the closest base step.
func TestYAMLEnvironmentRefusesMisspeltStep(t *testing.T) {
	path := writeTemplate(t, `
namespace: shop
name: order
steps:
  - name: charge
    handler: shop.charge
    retry: {limit: 3, base: 1s}
environments:
  development:
    steps:
      - {name: chrage, retry: {limit: 5}}
  staging:
    steps:
      - {config: {url: http://staging}}
      - {name: audit, handler: shop.audit, depends_on: [charge]}
`)
	for _, env := range []string{"", "development", "staging"} {
		ps := problems(t, path, env)
		if len(ps) != 2 {
			t.Errorf("env %q: %d problems, want 2: %v", env, len(ps), ps)
		}
		p := find(t, ps, "environments.development.steps[0].name")
		if want := path + `:10:10: environments.development.steps[0].name: environment "development" overrides step "chrage", which the base does not have (did you mean "charge"?); a step it adds needs a handler`; p.Error() != want {
			t.Errorf("env %q: %q, want %q", env, p.Error(), want)
		}
		if p := find(t, ps, "environments.staging.steps[0]"); p.Line != 13 || !strings.Contains(p.Msg, `environment "staging": the step names no step of the base to override`) {
			t.Errorf("env %q: %v", env, p)
		}
	}
	// A step with a handler is added.
	path = writeTemplate(t, `
namespace: shop
name: order
steps:
  - name: charge
    handler: shop.charge
environments:
  staging:
    steps:
      - {name: audit, handler: shop.audit, depends_on: [charge]}
`)
	staging, err := engine.LoadTemplateFile(path, "staging")
	must(t, err)
	if len(staging.Steps) != 2 || staging.Steps[1].Name != "audit" {
		t.Errorf("staging = %+v", staging.Steps)
	}
}

func TestYAMLSemanticProblemsCarryLines(t *testing.T) {
	path := writeTemplate(t, `
namespace: shop
name: order
steps:
  - name: a
    handler: h
    depends_on: [c]
  - name: b
    handler: h
    depends_on: [a]
  - name: c
    handler: h
    depends_on: [b]
  - name: d
    handler: h
    depends_on: [ghost]
  - name: d
    handler: h
`)
	ps := problems(t, path, "")
	for _, w := range []struct {
		path string
		line int
		msg  string
	}{
		{"steps[0].depends_on", 6, "dependency cycle"},
		{"steps[3].depends_on", 15, `unknown step "ghost"`},
		{"steps[4].name", 16, "duplicate step name"},
	} {
		found := false
		for _, p := range ps {
			if p.Path == w.path && strings.Contains(p.Msg, w.msg) {
				found = true
				if p.Line != w.line {
					t.Errorf("%s (%s) at line %d, want %d", w.path, w.msg, p.Line, w.line)
				}
			}
		}
		if !found {
			t.Errorf("no %q problem at %s: %v", w.msg, w.path, ps)
		}
	}

	// Handler checks against a list (tasker lint --handlers) point into the
	// file too; Register itself no longer requires the handlers here.
	ok := writeTemplate(t, `
namespace: shop
name: order
steps:
  - name: a
    handler: shop.a
  - name: b
    handler: shop.missing
`)
	tmpl, err := engine.LoadTemplateFile(ok, "")
	must(t, err)
	err = tmpl.Validate(func(h string) bool { return h == "shop.a" })
	rp := engine.TemplateProblems(err)
	if len(rp) != 1 || rp[0].File != ok || rp[0].Line != 7 || !strings.Contains(rp[0].Msg, `unknown handler "shop.missing"`) {
		t.Errorf("validate with a handler list: %v", err)
	}
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("shop.a", noop))
	if err := env.Register(tmpl); err != nil {
		t.Errorf("register without every handler here: %v", err)
	}
}

func TestYAMLSyntaxAndShape(t *testing.T) {
	for _, c := range []struct {
		name, src string
		line      int
		msg       string
	}{
		{"syntax", "namespace: shop\nsteps: [\n  {name: a\n", 0, ""},
		{"duplicate key", "namespace: shop\nname: a\nname: b\nsteps: []\n", 3, "already defined"},
		{"empty", "# nothing\n", 0, "empty"},
		{"list", "- a\n- b\n", 1, "mapping"},
		{"steps not a list", "namespace: s\nname: n\nsteps: {a: 1}\n", 3, "list of steps"},
		{"version a number", "namespace: s\nname: n\nversion: 1.0\nsteps: [{name: a, handler: h}]\n", 3, "must be a string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := problems(t, writeTemplate(t, c.src), "")
			p := ps[0]
			if c.line > 0 && p.Line != c.line {
				t.Errorf("line %d, want %d: %v", p.Line, c.line, p)
			}
			if c.name == "syntax" && p.Line == 0 {
				t.Errorf("a syntax error without a line: %v", p)
			}
			if !strings.Contains(p.Msg, c.msg) {
				t.Errorf("%q does not mention %q", p.Msg, c.msg)
			}
		})
	}
	// ParseTemplate (bytes, no file) reports lines as well.
	_, err := engine.ParseTemplate([]byte("namespace: s\nname: n\nsteps: [{name: a, handler: h, depends: [x]}]\n"), "")
	if ps := engine.TemplateProblems(err); len(ps) != 1 || ps[0].Line != 3 || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("ParseTemplate: %v", err)
	}
}

// DecodeTemplateFile returns a template that decodes but does not validate,
// for the caller to validate with the handlers it knows; Position places
// paths in the file. A file that does not decode is refused as by
// LoadTemplateFile.
func TestDecodeTemplateFileLeavesValidationToTheCaller(t *testing.T) {
	path := writeTemplate(t, `
namespace: shop
name: order
steps:
  - name: a
    handler: shop.a
    depends_on: [missing]
`)
	if _, err := engine.LoadTemplateFile(path, ""); !errors.Is(err, engine.ErrInvalidTemplate) {
		t.Fatalf("LoadTemplateFile: %v, want the unknown dependency", err)
	}
	tmpl, err := engine.DecodeTemplateFile(path, "")
	if err != nil {
		t.Fatalf("DecodeTemplateFile: %v", err)
	}
	ps := engine.TemplateProblems(tmpl.Validate(func(h string) bool { return h == "shop.b" }))
	if len(ps) != 2 || ps[0].Path != "steps[0].handler" || ps[0].Line != 5 || ps[1].Path != "steps[0].depends_on" || ps[1].Line != 6 {
		t.Fatalf("Validate: %v", ps)
	}
	if line, col := tmpl.Position("steps[0].depends_on"); line != 6 || col != 5 {
		t.Fatalf("Position: %d:%d, want 6:5", line, col)
	}
	if line, col := (&engine.Template{}).Position("steps"); line != 0 || col != 0 {
		t.Fatalf("Position of a Go template: %d:%d", line, col)
	}

	bad := writeTemplate(t, "namespace: shop\nname: order\nsteps: 3\n")
	if tmpl, err := engine.DecodeTemplateFile(bad, ""); tmpl != nil || len(engine.TemplateProblems(err)) != 1 {
		t.Fatalf("DecodeTemplateFile of a bad file: %v, %v", tmpl, err)
	}
}

// Routing keys: queue, priority, concurrency and rate limits decode from
// YAML, and their mistakes name their path and line.
func TestYAMLRouting(t *testing.T) {
	ok := writeTemplate(t, `
namespace: shop
name: order
queue: orders
priority: 5
concurrency: {max: 1, key: customer_id}
rate_limits:
  payments: {per_second: 12.5, burst: 3}
predictive_retry: true
steps:
  - name: charge
    handler: shop.charge
    dependent_system: payments
`)
	tmpl, err := engine.LoadTemplateFile(ok, "")
	must(t, err)
	if tmpl.Queue != "orders" || !tmpl.PredictiveRetry || tmpl.Priority != 5 || *tmpl.Concurrency != (engine.Concurrency{Max: 1, Key: "customer_id"}) ||
		tmpl.RateLimits["payments"] != (engine.RateLimit{PerSecond: 12.5, Burst: 3}) {
		t.Fatalf("decoded %+v", tmpl)
	}
	bad := writeTemplate(t, `
namespace: shop
name: order
priority: 5000
concurrency: {max: 0, kee: x}
rate_limits:
  payments: {per_second: fast, burst: 3}
steps:
  - name: charge
    handler: shop.charge
`)
	_, err = engine.LoadTemplateFile(bad, "")
	for _, want := range []string{`:4:23: concurrency.kee: unknown key "kee"`, ":6:14: rate_limits.payments.per_second: must be a number"} {
		if !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	_, err = engine.LoadTemplateFile(writeTemplate(t, "namespace: shop\nname: order\npredictive_retry: often\nsteps: [{name: a, handler: h}]\n"), "")
	if !strings.Contains(fmt.Sprint(err), ":3:") || !strings.Contains(fmt.Sprint(err), "predictive_retry: must be true or false") {
		t.Errorf("predictive_retry: often: %v", err)
	}
	_, err = engine.LoadTemplateFile(writeTemplate(t, "namespace: shop\nname: order\npriority: 5000\nsteps: [{name: a, handler: h}]\n"), "")
	if !strings.Contains(fmt.Sprint(err), ":3:") || !strings.Contains(fmt.Sprint(err), "priority must be between 0 and 1000") {
		t.Errorf("priority 5000: %v", err)
	}
}

// A rate limit without burst or per_second, and a concurrency without max,
// are refused naming the key as required: they read "must be an integer,
// got null", a null the file did not have. An environment may leave them
// out, since maps merge key by key: one that changed only a rate limit's
// burst was refused, although the template it selects is complete.
func TestYAMLRequiredKeysOfMappings(t *testing.T) {
	path := writeTemplate(t, `
namespace: shop
name: order
concurrency: {key: customer_id}
rate_limits:
  payments: {per_second: 5}
  mail: {burst: 2}
steps:
  - {name: charge, handler: shop.charge, dependent_system: payments}
  - {name: confirm, handler: shop.confirm, dependent_system: mail}
`)
	ps := problems(t, path, "")
	for _, w := range []struct{ path, msg string }{
		{"concurrency.max", "is required (say concurrency: {max: 1, key: customer_id})"},
		{"rate_limits.payments.burst", "is required (say {per_second: 50, burst: 10})"},
		{"rate_limits.mail.per_second", "is required"},
	} {
		if p := find(t, ps, w.path); !strings.Contains(p.Msg, w.msg) || strings.Contains(p.Msg, "null") {
			t.Errorf("%s: %q, want it to say %q", w.path, p.Msg, w.msg)
		}
	}
	if len(ps) != 3 {
		t.Errorf("%d problems, want 3: %v", len(ps), ps)
	}

	path = writeTemplate(t, `
namespace: shop
name: order
concurrency: {max: 2, key: customer_id}
rate_limits:
  payments: {per_second: 5, burst: 1}
steps:
  - {name: charge, handler: shop.charge, dependent_system: payments}
environments:
  production:
    concurrency: {max: 8}
    rate_limits:
      payments: {burst: 20}
`)
	for _, env := range []string{"", "production"} {
		if _, err := engine.LoadTemplateFile(path, env); err != nil {
			t.Fatalf("env %q: %v", env, err)
		}
	}
	tmpl, err := engine.LoadTemplateFile(path, "production")
	must(t, err)
	if *tmpl.Concurrency != (engine.Concurrency{Max: 8, Key: "customer_id"}) || tmpl.RateLimits["payments"] != (engine.RateLimit{PerSecond: 5, Burst: 20}) {
		t.Fatalf("production: concurrency %+v, rate limit %+v; want the base's key and per_second with the environment's max and burst", *tmpl.Concurrency, tmpl.RateLimits["payments"])
	}
}

// An empty string and a zero duration say something the template would
// not do: queue: "" is the default queue, "timeout: 0s" the engine's
// timeout (not none), "retry.base: 0s" the default backoff (not no wait).
// Each is refused at its key, and a null (the key left out) is not.
func TestYAMLEmptyValuesAndZeroDurationsAreRefused(t *testing.T) {
	checkYAMLProblems(t, []yamlProblem{
		{"empty queue", "namespace: s\nname: n\nqueue: ''\nsteps: [{name: a, handler: h}]\n", "queue", 3, "is empty"},
		{"empty version", "namespace: s\nname: n\nversion: \"\"\nsteps: [{name: a, handler: h}]\n", "version", 3, "is empty"},
		{"empty concurrency key", "namespace: s\nname: n\nconcurrency:\n  max: 1\n  key: ''\nsteps: [{name: a, handler: h}]\n", "concurrency.key", 5, "is empty"},
		{"empty step name", "namespace: s\nname: n\nsteps:\n  - name: ''\n    handler: h\n", "steps[0].name", 4, "required"},
		{"empty dependent system", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    dependent_system: ''\n", "steps[0].dependent_system", 6, "is empty"},
		{"empty backoff", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    retry:\n      limit: 3\n      backoff: ''\n", "steps[0].retry.backoff", 8, "is empty"},
		{"zero timeout", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    timeout: 0s\n", "steps[0].timeout", 6, "zero"},
		{"zero base", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    retry:\n      limit: 3\n      base: 0ms\n", "steps[0].retry.base", 8, "zero"},
		{"zero max", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    retry:\n      limit: 3\n      max: 0m\n", "steps[0].retry.max", 8, "zero"},
		{"environment", "namespace: s\nname: n\nsteps: [{name: a, handler: h}]\nenvironments:\n  dev:\n    steps:\n      - name: a\n        timeout: 0s\n", "environments.dev.steps[0].timeout", 8, "zero"},
		// (taken before, doing nothing, or making the workflow unstartable)
		{"empty retry", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    retry: {}\n", "steps[0].retry", 6, "is empty: give limit, base or max"},
		{"empty rate limits", "namespace: s\nname: n\nrate_limits: {}\nsteps: [{name: a, handler: h}]\n", "rate_limits", 3, "is empty: give a system's limit"},
		{"empty concurrency", "namespace: s\nname: n\nconcurrency: {}\nsteps: [{name: a, handler: h}]\n", "concurrency.max", 3, "is required"},
		{"input schema false", "namespace: s\nname: n\ninput_schema: false\nsteps: [{name: a, handler: h}]\n", "input_schema", 3, "false accepts no input"},
	})
	if _, err := engine.ParseTemplate([]byte("namespace: s\nname: n\nqueue:\nsteps:\n  - name: a\n    handler: h\n    timeout:\n"), ""); err != nil {
		t.Errorf("null values: %v", err)
	}
}

// An input schema's $ref to another document (a file, a URL) is refused
// at input_schema, naming the reference: the schema compiler read local
// files, so a schema that linted here could fail on a worker without the
// file. A $ref into the schema itself is taken.
func TestYAMLInputSchemaRefersToNoOtherDocument(t *testing.T) {
	other := filepath.Join(t.TempDir(), "order.schema.json")
	must(t, os.WriteFile(other, []byte(`{"type": "object"}`), 0o600))
	for _, ref := range []string{"file://" + other, "order.schema.json", "https://example.com/order.schema.json"} {
		t.Run(ref, func(t *testing.T) {
			path := writeTemplate(t, fmt.Sprintf("namespace: s\nname: n\ninput_schema:\n  $ref: '%s'\nsteps: [{name: a, handler: h}]\n", ref))
			p := find(t, problems(t, path, ""), "input_schema")
			if p.Line != 3 || !strings.Contains(p.Msg, ref) || !strings.Contains(p.Msg, "another document") {
				t.Errorf("%v: want line 3 naming the $ref %s as another document", p, ref)
			}
		})
	}
	local := "namespace: s\nname: n\ninput_schema:\n  $defs: {id: {type: string}}\n  properties: {order_id: {$ref: '#/$defs/id'}}\nsteps: [{name: a, handler: h}]\n"
	if _, err := engine.LoadTemplateFile(writeTemplate(t, local), ""); err != nil {
		t.Errorf("a $ref into the schema: %v", err)
	}
}

// Values past what the engine can hold are named as out of range, not
// misspelt: a duration past 292 years ("must be a duration such as 30s"),
// an integer past 64 bits ("the string …"), a count past the store's 32
// bits (Postgres refused it at the first start; SQLite stored it).
func TestYAMLOutOfRangeValuesAreNamed(t *testing.T) {
	checkYAMLProblems(t, []yamlProblem{
		{"long timeout", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    timeout: 99999999999999h\n", "steps[0].timeout", 6, `"99999999999999h" is out of range: a duration is at most 2562047h`},
		{"retry limit past 64 bits", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    retry:\n      limit: 99999999999999999999\n", "steps[0].retry.limit", 7, "the number 99999999999999999999, which is out of range"},
		{"retry limit past 32 bits", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    retry:\n      limit: 9223372036854775807\n", "steps[0].retry.limit", 7, "at most 2147483647, got 9223372036854775807"},
		{"concurrency past 32 bits", "namespace: s\nname: n\nconcurrency:\n  max: 3000000000\nsteps: [{name: a, handler: h}]\n", "concurrency.max", 4, "at most 2147483647, got 3000000000"},
		{"retry limit past 63 bits", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    retry:\n      limit: 9223372036854775808\n", "steps[0].retry.limit", 7, "the number 9223372036854775808, which is out of range"},
		{"a quoted number that fits", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    retry:\n      limit: \"1234567890123456789\"\n", "steps[0].retry.limit", 7, `must be an integer, got the string "1234567890123456789"`},
	})
}

// A key given twice in one mapping is refused at its second place with its
// path (the parser refused it with a position only).
func TestYAMLDuplicateKeyNamesItsPath(t *testing.T) {
	checkYAMLProblems(t, []yamlProblem{
		{"in a step's retry", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    retry:\n      limit: 3\n      limit: 4\n", "steps[0].retry.limit", 8, `mapping key "limit" already defined`},
		{"at the top", "namespace: s\nnamespace: t\nname: n\nsteps: [{name: a, handler: h}]\n", "namespace", 2, `mapping key "namespace" already defined`},
	})
}

// yamlProblem is a template (src) with one mistake, reported at path on
// line with a message holding msg.
type yamlProblem struct {
	name, src, path string
	line            int
	msg             string
}

// checkYAMLProblems loads each case's template and checks its problem.
func checkYAMLProblems(t *testing.T, cases []yamlProblem) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := find(t, problems(t, writeTemplate(t, c.src), ""), c.path)
			if p.Line != c.line || !strings.Contains(p.Msg, c.msg) {
				t.Errorf("%v: want line %d mentioning %q", p, c.line, c.msg)
			}
		})
	}
}

// An unknown key in the selected environment was reported twice at its
// line: once as the environment's (its keys listed without environments)
// and once as the merged template's, in other words.
func TestYAMLUnknownKeyInSelectedEnvironmentReportedOnce(t *testing.T) {
	path := writeTemplate(t, `
namespace: shop
name: order
steps:
  - name: charge
    handler: shop.charge
environments:
  staging:
    colour: blue
`)
	ps := problems(t, path, "staging")
	if len(ps) != 1 {
		t.Fatalf("%d problems, want the unknown key once: %v", len(ps), ps)
	}
	if p := ps[0]; p.Path != "environments.staging.colour" || p.Line != 8 || !strings.Contains(p.Msg, `unknown key "colour"`) {
		t.Errorf("problem %v, want environments.staging.colour at line 8", p)
	}
}

// A whole number written as a float (5.0) is refused where an integer
// belongs; the refusal said "must be an integer, got the number 5", which
// reads as an integer. It shows the value as written.
func TestYAMLWholeFloatIsShownAsAFloat(t *testing.T) {
	checkYAMLProblems(t, []yamlProblem{
		{"priority", "namespace: s\nname: n\npriority: 5.0\nsteps: [{name: a, handler: h}]\n", "priority", 3, "must be an integer, got the number 5.0"},
		{"retry limit", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    retry: {limit: 3.0}\n", "steps[0].retry.limit", 6, "must be an integer, got the number 3.0"},
	})
}

// A key of the file's own naming (a rate-limited system, an environment)
// that holds a dot or a bracket was located at the mapping above it: the
// parser quotes such a key in its paths ('pay.v2'), the loader did not.
// Paths now quote it as the parser does, and the problem is at its line.
func TestYAMLKeyWithADotIsLocated(t *testing.T) {
	checkYAMLProblems(t, []yamlProblem{
		{"rate limit", "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    dependent_system: pay.v2\nrate_limits:\n  pay.v2:\n    burst: 1\n    per_second: 0\n", "rate_limits.'pay.v2'.per_second", 10, "rate must be above 0"},
		{"environment", "namespace: s\nname: n\nsteps: [{name: a, handler: h}]\nenvironments:\n  dev.eu:\n    queue: fast\n    priority: high\n", "environments.'dev.eu'.priority", 7, "must be an integer"},
		{"unknown key", "namespace: s\nname: n\nsteps: [{name: a, handler: h}]\nenvironments:\n  dev:\n    queue: fast\n    a[1]: x\n", "environments.dev.'a[1]'", 7, `unknown key "a[1]"`},
	})
	// With the environment selected, a problem of its override is located
	// in it.
	path := writeTemplate(t, "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n    dependent_system: p\n    config: {x: 1}\nrate_limits: {p: {per_second: 1, burst: 1}}\nenvironments:\n  dev.eu:\n    rate_limits:\n      p:\n        burst: 0\n")
	if p := find(t, problems(t, path, "dev.eu"), "rate_limits.p.burst"); p.Line != 13 {
		t.Errorf("%v: want line 13, in the environment", p)
	}
}

// A file that starts with a byte order mark (as some Windows editors save
// UTF-8), which YAML allows at the start of a stream, was refused: its
// first key read as "\ufeffnamespace", an unknown key. It loads.
func TestYAMLFileWithAByteOrderMarkLoads(t *testing.T) {
	path := writeTemplate(t, "\ufeffnamespace: shop\nname: order\nsteps:\n  - name: a\n    handler: h\n")
	tmpl, err := engine.LoadTemplateFile(path, "")
	must(t, err)
	if tmpl.FullName() != "shop/order" || len(tmpl.Steps) != 1 {
		t.Fatalf("loaded %+v", tmpl)
	}
	// A problem is still located by the line and column the editor shows.
	path = writeTemplate(t, "\ufeffnamespace: shop\nname: order\ncolour: blue\nsteps:\n  - name: a\n    handler: h\n")
	if p := find(t, problems(t, path, ""), "colour"); p.Line != 3 || p.Column != 1 {
		t.Errorf("%v: want 3:1", p)
	}
}

// A null counts as absent, in an environment too: there it is no
// override. It replaced the base's value instead: "steps:" left empty in
// an environment dropped every step ("template has no steps"), and
// "concurrency: {key: ~}" silently turned a per-customer limit into a
// fleet-wide one.
func TestYAMLNullInAnEnvironmentOverridesNothing(t *testing.T) {
	path := writeTemplate(t, `
namespace: shop
name: order
queue: orders
concurrency: {max: 1, key: customer_id}
steps:
  - name: charge
    handler: shop.charge
    timeout: 30s
environments:
  staging:
    queue:
    concurrency: {key: ~}
    steps:
  dev:
    steps:
      - name: charge
        timeout: ~
`)
	for _, env := range []string{"staging", "dev"} {
		tmpl, err := engine.LoadTemplateFile(path, env)
		must(t, err)
		if tmpl.Queue != "orders" || tmpl.Concurrency == nil || tmpl.Concurrency.Key != "customer_id" ||
			len(tmpl.Steps) != 1 || tmpl.Steps[0].Timeout != 30*time.Second {
			t.Errorf("%s: queue %q, concurrency %+v, steps %+v: want the base's", env, tmpl.Queue, tmpl.Concurrency, tmpl.Steps)
		}
	}
}

// A duration with a sign is refused at its key, in the words of the CLI's
// configuration ("+30s" has a sign: write "30s"): time.ParseDuration took
// +30s as 30s and -0s as 0. A negative one keeps its own error.
func TestYAMLSignedDurationsRefused(t *testing.T) {
	step := "namespace: s\nname: n\nsteps:\n  - name: a\n    handler: h\n"
	checkYAMLProblems(t, []yamlProblem{
		{"timeout", step + "    timeout: +30s\n", "steps[0].timeout", 6, `"+30s" has a sign: write "30s"`},
		{"timeout -0s", step + "    timeout: -0s\n", "steps[0].timeout", 6, `"-0s" has a sign: write "0s"`},
		{"retry base", step + "    retry:\n      base: +1s\n", "steps[0].retry.base", 7, `"+1s" has a sign: write "1s"`},
		{"retry max", step + "    retry:\n      max: +1m30s\n", "steps[0].retry.max", 7, `"+1m30s" has a sign: write "1m30s"`},
	})
	p := find(t, problems(t, writeTemplate(t, step+"    timeout: -5s\n"), ""), "steps[0].timeout")
	if !strings.Contains(p.Msg, "timeout must not be negative") {
		t.Errorf("timeout -5s: %v, want its own error", p)
	}
}

// A whole number with a sign is refused at its key, as a duration with one
// is ("+5" has a sign: write "5"): the parser gave +5 as 5, text other
// than the value kept. A step's config is the handler's data, left as is.
func TestYAMLSignedNumbersRefused(t *testing.T) {
	base := "namespace: s\nname: n\n"
	step, pay := "steps:\n  - name: a\n    handler: h\n", "    dependent_system: pay\n"
	checkYAMLProblems(t, []yamlProblem{
		{"priority", base + "priority: +5\n" + step, "priority", 3, `"+5" has a sign: write "5"`},
		{"retry limit", base + step + "    retry: {limit: +3}\n", "steps[0].retry.limit", 6, `"+3" has a sign: write "3"`},
		{"concurrency max", base + "concurrency: {max: +2, key: k}\n" + step, "concurrency.max", 3, `"+2" has a sign: write "2"`},
		{"burst", base + "rate_limits: {pay: {per_second: 5, burst: +10}}\n" + step + pay, "rate_limits.pay.burst", 3, `"+10" has a sign: write "10"`},
		{"per_second", base + "rate_limits: {pay: {per_second: +5, burst: 10}}\n" + step + pay, "rate_limits.pay.per_second", 3, `"+5" has a sign: write "5"`},
		{"environment", base + step + "environments:\n  prod:\n    priority: +7\n", "environments.prod.priority", 8, `"+7" has a sign: write "7"`},
	})
	p := find(t, problems(t, writeTemplate(t, base+"priority: +5\n"+step), ""), "priority")
	if p.Column != 1 {
		t.Errorf("%v: want column 1, the key's", p)
	}
	tmpl, err := engine.ParseTemplate([]byte(base+"priority: 5\n"+step+"    config: {n: +5}\n"), "")
	if err != nil || tmpl.Priority != 5 {
		t.Fatalf("ParseTemplate: %+v, %v; want priority 5 and a config number with a sign kept", tmpl, err)
	}
}
