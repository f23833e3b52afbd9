package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tasker-go/tasker/internal/editdist"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
)

// Template declares a workflow as a DAG of named steps.
type Template struct {
	// Namespace and Name make the workflow's name, "namespace/name",
	// which Start takes.
	Namespace string
	Name      string
	// Version tells definitions of one workflow apart (default "0.0.0");
	// Start uses the latest registered, and a task keeps the one it
	// started with.
	Version string
	// Description is for the template's readers (the YAML key
	// description): the engine stores and shows it nowhere, so a version
	// registered again with another description is the same definition.
	Description string
	// InputSchema is an optional JSON Schema every input must satisfy
	// (draft-04, -06, -07, 2019-09 or 2020-12 as its $schema says; 2020-12
	// without one). It is self-contained: a $ref to another document is
	// refused. As JSON Schema specifies, a keyword the draft does not have
	// (a misspelt "requird") is ignored, and "format" (email, date-time)
	// is checked under draft-04 to draft-07 only: under 2019-09 and
	// 2020-12, the default, it is an annotation that accepts any string.
	InputSchema json.RawMessage
	// Queue is the queue its tasks' steps are claimed from (default
	// "default"); Start's WithQueue overrides it. Workers serve the queues
	// in ExecutionConfig.Queues.
	Queue string
	// Priority is its tasks' default priority (0..1000, higher runs
	// first); Start's WithPriority overrides it.
	Priority int
	// Concurrency, when set, limits how many steps of this workflow run
	// at once across every process: in all, or per value of an input
	// field (Concurrency.Key). Start's WithConcurrency overrides it.
	Concurrency *Concurrency
	// RateLimits caps, across every process, how fast steps calling a
	// dependent system start: a step whose DependentSystem is a key here
	// takes a token from that system's bucket when it is claimed (steps
	// waiting for a token cost no attempt). The bucket lives in the
	// database and is shared by every template naming the system; the
	// latest started task's declaration sets its rate. A key no step names
	// as its DependentSystem, or with spaces around it, is refused.
	RateLimits map[string]RateLimit
	// PredictiveRetry scales its steps' retry delays by the error's class,
	// the connection pool's pressure and the step's recent success rate
	// at the coming attempt (see Config.PredictiveRetry); the
	// predictive_retry toggle turns it on for every workflow. It is
	// refused on a template none of whose steps retries.
	PredictiveRetry bool
	// Retention is how long its tasks are kept once finished (complete,
	// cancelled or resolved by hand), overriding
	// ExecutionConfig.Retention: 0 the engine's, KeepForever never
	// deleted, otherwise at least a millisecond. Each task keeps the
	// retention it started with.
	Retention time.Duration
	// Steps are the DAG's steps, at most MaxTemplateSteps.
	Steps []StepTemplate

	schema *jsonschema.Schema
	src    *templateSource // where a YAML template came from
}

// Concurrency is a fleet-wide limit on running steps: at most Max steps of
// the workflow run at once across every process, or, with Key, at most Max
// per value of the input's top-level field Key (e.g. one per customer_id;
// a whole number is one value however it is written: 7, 7.0, 7e0).
// Steps over the limit wait in claim order and cost no attempt; a crashed
// holder's slot frees once its lease has expired and the maintenance pass
// rescued its step (ExecutionConfig.RescueInterval). A task keeps the Max it
// started with: while tasks of a version with another Max run, each waits
// for its own (see WithConcurrency). A Key with a NUL byte,
// invalid UTF-8 or spaces around it is refused: no input could start; so
// is one the InputSchema allows no input to hold (additionalProperties
// false, the Key not among its properties).
type Concurrency struct {
	Max int
	Key string
}

// RateLimit is a token bucket: PerSecond tokens a second, at most Burst
// saved up (a burst of that many may start at once).
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// StepTemplate declares one step.
type StepTemplate struct {
	// Name is unique within the template; Result and DependsOn use it.
	Name string
	// Handler names the registered handler that runs the step.
	Handler string
	// DependsOn names the steps that must complete (or be resolved)
	// before this one runs.
	DependsOn []string
	// NotRetryable: the step runs once; a failure fails the task. A
	// RetryLimit above 1 with it is refused.
	NotRetryable bool
	// RetryLimit is the total number of attempts (default 3).
	RetryLimit int
	// Backoff is the wait between attempts (default Config.Retry, which
	// also gives Base or Max when only the other is set). It is
	// refused on a step that makes one attempt (NotRetryable, or
	// RetryLimit 1), where it would do nothing, and Register refuses a
	// Base above the engine's Config.Retry.Max without a Max of its own
	// (every delay would be capped at that max).
	Backoff retry.Policy
	// Timeout bounds one attempt (0: no timeout beyond the engine's;
	// otherwise at least a millisecond).
	Timeout time.Duration
	// Skippable lets the handler end the step with Skip: it completes
	// without a result and its dependants run.
	Skippable bool
	// Config is handed to the handler as its configuration (any
	// JSON-encodable value without a NUL character, at most
	// store.MaxJSONBytes as JSON: the store refuses either).
	Config any
	// DependentSystem names the external system the step calls (UTF-8,
	// no NUL byte, no spaces around it): its attempts share the system's pause and circuit
	// breaker (see WithStepDependentSystem). Every attempt's outcome feeds
	// the breaker, but for a PermanentError, a panic and a claim by a
	// worker without the step's handler: they say nothing of the system.
	DependentSystem string
}

// FullName is "namespace/name".
func (t *Template) FullName() string { return t.Namespace + "/" + t.Name }

// stepPolicy is what a step row carries about how to run it.
type stepPolicy struct {
	Backoff         retry.Policy  `json:"backoff"`
	Timeout         time.Duration `json:"timeout,omitempty"`
	DependentSystem string        `json:"dependent_system,omitempty"`
	// Deadline is the task's WithWorkflowTimeout as steps of tasks started
	// before store.Task.DeadlineAt carry it (by the starter's clock); a
	// task's DeadlineAt wins (see Engine.execute).
	Deadline time.Time `json:"deadline,omitzero"`
	// Predictive: the template's PredictiveRetry.
	Predictive bool `json:"predictive,omitempty"`
}

// MaxTemplateSteps bounds the steps of one template. A task of 10,000
// steps is created in one transaction (under a second on SQLite, about
// two on PostgreSQL) and runs to the end; past that, a workflow is better
// split into child workflows or a StartMany of smaller tasks. Chains are
// bounded only by it: a 10,000-deep chain validates and runs, one step
// after another.
const MaxTemplateSteps = 10_000

// Validate reports every problem with the template at once: the error
// joins one *TemplateError per problem (errors.Is ErrInvalidTemplate; see
// TemplateProblems), each naming the field (and, for a template loaded from
// YAML, its file, line and column). Names are held to the store's limits
// (store.MaxNameLen bytes, no NUL byte, valid UTF-8) so that a template that
// validates can also start, and have no spaces around them. known, when not
// nil, says whether a handler name is registered.
func (t *Template) Validate(known func(string) bool) error {
	var problems []*TemplateError
	add := func(path, format string, args ...any) {
		problems = append(problems, t.problem(path, fmt.Sprintf(format, args...)))
	}
	for _, f := range []struct{ path, what, v string }{{"namespace", "namespace", t.Namespace}, {"name", "name", t.Name}} {
		if msg := checkName(f.what, f.v); msg != "" {
			add(f.path, "%s", msg)
		} else if strings.ContainsAny(f.v, "/@") {
			add(f.path, "%s %s must not contain '/' or '@'", f.what, quoteName(f.v))
		}
	}
	if t.Version != "" {
		if msg := checkName("version", t.Version); msg != "" {
			add("version", "%s", msg)
		}
	}
	if t.Queue != "" {
		if msg := checkName("queue", t.Queue); msg != "" {
			add("queue", "%s", msg)
		}
	}
	if t.Priority < store.MinPriority || t.Priority > store.MaxPriority {
		add("priority", "priority must be between %d and %d, got %d", store.MinPriority, store.MaxPriority, t.Priority)
	}
	if msg := retentionProblem(t.Retention); msg != "" {
		add("retention", "%s", msg)
	}
	if c := t.Concurrency; c != nil && (c.Max < 1 || c.Max > store.MaxCount) {
		add("concurrency.max", "concurrency max must be at least 1 and at most %d, got %d", store.MaxCount, c.Max)
	}
	if c := t.Concurrency; c != nil && c.Key != "" {
		// An input decoded from JSON has no field with a NUL byte the
		// store takes in a group, nor one of invalid UTF-8; spaces around
		// are refused as around any name (" customer_id" is a slip).
		// (Its length is not bounded: a long key's group is hashed.)
		if strings.IndexByte(c.Key, 0) >= 0 {
			add("concurrency.key", "concurrency key %s contains a NUL byte", quoteName(c.Key))
		} else if !utf8.ValidString(c.Key) {
			add("concurrency.key", "concurrency key %s is not valid UTF-8", quoteName(c.Key))
		} else if msg := spacesAround("concurrency key", c.Key); msg != "" {
			add("concurrency.key", "%s", msg)
		} else if props, closed := closedProperties(t.InputSchema); closed && !slices.Contains(props, c.Key) {
			// Every start would be refused: its input lacks the key, or
			// has it and fails the schema.
			msg := fmt.Sprintf("concurrency key %s is no field the input schema allows (additionalProperties is false and its properties do not list it)", quoteName(c.Key))
			if near := editdist.Closest(c.Key, props); near != "" {
				msg += fmt.Sprintf(": did you mean %s?", quoteName(near))
			}
			add("concurrency.key", "%s", msg)
		}
	}
	for _, sys := range slices.Sorted(maps.Keys(t.RateLimits)) {
		r := t.RateLimits[sys]
		path := join("rate_limits", sys)
		if msg := checkName("system", sys); msg != "" {
			add(path, "%s", msg)
		}
		if !(r.PerSecond > 0) || r.PerSecond > 1e6 {
			add(path+".per_second", "rate must be above 0 and at most 1000000 per second, got %g", r.PerSecond)
		}
		if r.Burst < 1 || r.Burst > store.MaxCount {
			add(path+".burst", "burst must be at least 1 and at most %d, got %d", store.MaxCount, r.Burst)
		}
		if !slices.ContainsFunc(t.Steps, func(s StepTemplate) bool { return s.DependentSystem == sys }) {
			add(path, "no step has dependent system %s, so this rate limit would apply to nothing (names are case-sensitive)", quoteName(sys))
		}
	}
	if t.PredictiveRetry && len(t.Steps) > 0 && !slices.ContainsFunc(t.Steps, func(s StepTemplate) bool { return !s.NotRetryable && s.RetryLimit != 1 }) {
		add("predictive_retry", "no step of the template retries (each makes one attempt: NotRetryable or RetryLimit 1), so the predictive retry would weigh no delay: drop it")
	}
	if len(t.Steps) == 0 {
		add("steps", "template has no steps")
	} else if len(t.Steps) > MaxTemplateSteps {
		add("steps", "template has %d steps, more than the %d allowed (MaxTemplateSteps)", len(t.Steps), MaxTemplateSteps)
	}
	seen := map[string]int{}
	for i, s := range t.Steps {
		path := fmt.Sprintf("steps[%d]", i)
		where := fmt.Sprintf("step %s", quoteName(s.Name))
		if s.Name == "" {
			where = fmt.Sprintf("step #%d", i+1)
			add(path+".name", "%s: name is required", where)
		} else if msg := checkName("step name", s.Name); msg != "" {
			add(path+".name", "%s", msg)
		}
		if _, dup := seen[s.Name]; dup && s.Name != "" {
			add(path+".name", "%s: duplicate step name (also steps[%d])", where, seen[s.Name])
		} else {
			seen[s.Name] = i
		}
		switch {
		case s.Handler == "":
			add(path+".handler", "%s: handler is required", where)
		case checkName("handler", s.Handler) != "":
			add(path+".handler", "%s: %s", where, checkName("handler", s.Handler))
		case strings.HasPrefix(s.Handler, WorkflowHandlerPrefix):
			add(path+".handler", "%s: handler names starting with %q are reserved for code-first workflows", where, WorkflowHandlerPrefix)
		case known != nil && !known(s.Handler):
			add(path+".handler", "%s: unknown handler %s", where, quoteName(s.Handler))
		}
		if s.RetryLimit < 0 || s.RetryLimit > store.MaxCount {
			add(path+".retry.limit", "%s: retry limit must be at least 1 and at most %d, got %d", where, store.MaxCount, s.RetryLimit)
		}
		if s.NotRetryable && s.RetryLimit > 1 {
			add(path+".retry.limit", "%s: retry limit %d on a step that is not retryable (NotRetryable, retryable: false), which runs once: drop one", where, s.RetryLimit)
		}
		if s.Timeout < 0 {
			add(path+".timeout", "%s: timeout must not be negative, got %s", where, s.Timeout)
		} else if err := underAMillisecond("timeout", s.Timeout); err != nil {
			add(path+".timeout", "%s: %v", where, err)
		}
		if err := validateStepBackoff(s.Backoff); err != nil {
			add(path+".retry", "%s: %v", where, err)
		} else if s.Backoff != (retry.Policy{}) && (s.NotRetryable || s.RetryLimit == 1) {
			add(path+".retry", "%s: a backoff (retry base, max or no-jitter) on a step that makes one attempt (%s), which has no retry to wait for: drop one", where, onceWhy(s))
		}
		if s.Config != nil {
			if doc, err := json.Marshal(s.Config); err != nil {
				add(path+".config", "%s: config is not JSON-encodable: %v", where, err)
			} else if len(doc) > store.MaxJSONBytes { // (the store refused every start)
				add(path+".config", "%s: config is %d bytes as JSON, over the store's limit of %d (store.MaxJSONBytes)", where, len(doc), store.MaxJSONBytes)
			} else if err := store.UnstorableEscape(doc); err != nil {
				add(path+".config", "%s: config: %v", where, err)
			}
		}
		if msg := systemNameProblem(s.DependentSystem); msg != "" {
			add(path+".dependent_system", "%s: %s", where, msg)
		}
	}
	for i, s := range t.Steps {
		listed := map[string]bool{}
		for _, d := range s.DependsOn {
			path := fmt.Sprintf("steps[%d].depends_on", i)
			_, ok := seen[d]
			switch {
			case listed[d]: // (first: a name listed again is reported once as itself)
				add(path, "step %s lists dependency %s twice", quoteName(s.Name), quoteName(d))
			case d == s.Name:
				add(path, "step %s depends on itself", quoteName(s.Name))
			case !ok:
				add(path, "step %s depends on unknown step %s", quoteName(s.Name), quoteName(d))
			}
			listed[d] = true
		}
	}
	for _, cycle := range dependencyCycles(t.Steps) {
		add(fmt.Sprintf("steps[%d].depends_on", seen[cycle[0]]), "dependency cycle: %s", strings.Join(cycle, " → "))
	}
	if len(t.InputSchema) > 0 {
		if _, err := compileSchema(t.schemaURL(), t.InputSchema); err != nil {
			add("input_schema", "input schema: %v", err)
		}
	}
	if t.src != nil {
		sortProblems(problems)
	}
	return joinProblems(problems)
}

// onceWhy says why a step makes one attempt.
func onceWhy(s StepTemplate) string {
	if s.NotRetryable {
		return "NotRetryable, retryable: false"
	}
	return "RetryLimit 1, retry.limit: 1"
}

// problem is one problem at path, located in the YAML file the template
// came from, if any.
func (t *Template) problem(path, msg string) *TemplateError {
	p := &TemplateError{Path: path, Msg: msg}
	if t.Namespace != "" && t.Name != "" {
		p.Template = t.FullName() // (half of it, "ns/", is no workflow's name)
	}
	if t.src != nil {
		p.File = t.src.file
		p.Line, p.Column = t.src.locate(path)
	}
	return p
}

// newSteps is the template as store rows: the same graph validation
// checked is the graph the store executes.
// rateSystem is the rate-limited system a step calls, if any.
func (t *Template) rateSystem(s StepTemplate) string {
	if _, ok := t.RateLimits[s.DependentSystem]; ok {
		return s.DependentSystem
	}
	return ""
}

// rateLimits lists the buckets the template's steps use.
func (t *Template) rateLimits() []store.RateLimit {
	var out []store.RateLimit
	for _, s := range t.Steps {
		if r, ok := t.RateLimits[s.DependentSystem]; ok && s.DependentSystem != "" && !slices.ContainsFunc(out, func(x store.RateLimit) bool { return x.System == s.DependentSystem }) {
			out = append(out, store.RateLimit{System: s.DependentSystem, PerSecond: r.PerSecond, Burst: r.Burst})
		}
	}
	return out
}

func (t *Template) newSteps() []store.NewStep {
	out := make([]store.NewStep, len(t.Steps))
	for i, s := range t.Steps {
		limit := s.RetryLimit
		if limit == 0 {
			limit = store.DefaultRetryLimit
		}
		var cfg store.JSON
		if s.Config != nil {
			cfg, _ = json.Marshal(s.Config)
		}
		policy, _ := json.Marshal(stepPolicy{Backoff: s.Backoff, Timeout: s.Timeout, DependentSystem: s.DependentSystem, Predictive: t.PredictiveRetry})
		out[i] = store.NewStep{
			Name: s.Name, Handler: s.Handler, DependsOn: slices.Clone(s.DependsOn),
			Config: cfg, Policy: policy, Retryable: !s.NotRetryable, RetryLimit: limit, Skippable: s.Skippable,
			RateSystem: t.rateSystem(s),
		}
	}
	return out
}

// closedProperties returns the top-level properties of an input schema
// that allows no others (additionalProperties false, no
// patternProperties), sorted, with closed true; closed is false for any
// other schema (an input may then hold fields it does not list).
func closedProperties(schema json.RawMessage) (props []string, closed bool) {
	var top map[string]json.RawMessage
	if len(schema) == 0 || json.Unmarshal(schema, &top) != nil || string(top["additionalProperties"]) != "false" || top["patternProperties"] != nil {
		return nil, false
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(top["properties"], &m)
	return slices.Sorted(maps.Keys(m)), true
}

// schemaURL names the template's input schema in errors: the workflow, not
// a file that does not exist.
func (t *Template) schemaURL() string {
	return "tasker:///" + url.PathEscape(t.Namespace) + "/" + url.PathEscape(t.Name) + "@" + url.PathEscape(t.Version) + "/input.schema.json"
}

func compileSchema(name string, doc json.RawMessage) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(doc)))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noSchemaLoader{})
	if err := c.AddResource(name, v); err != nil {
		return nil, err
	}
	s, err := c.Compile(name)
	var le *jsonschema.LoadURLError
	if errors.As(err, &le) {
		ref := strings.TrimPrefix(le.URL, strings.TrimSuffix(name, "input.schema.json"))
		// The library loads a $schema it does not know as a metaschema
		// document, so an old draft (draft-03) reads as a $ref out of the
		// schema, a keyword the schema may not have.
		if m, ok := v.(map[string]any); ok {
			if sch, ok := m["$schema"].(string); ok && strings.TrimSuffix(sch, "#") == ref {
				return nil, fmt.Errorf("$schema %s is not a draft this validator knows (draft-04, draft-06, draft-07, 2019-09, 2020-12): name one of those, or leave $schema out for 2020-12", strconv.Quote(sch))
			}
		}
		return nil, fmt.Errorf("$ref %s names another document: an input schema is self-contained (put the definition under $defs and refer to it as #/$defs/…)", strconv.Quote(ref))
	}
	return s, err
}

// noSchemaLoader loads no document: a $ref out of the input schema (a
// file, a URL) is refused. The library's default loader read local files,
// so a schema that compiled where it was linted could fail on a worker
// without that file, and a template could read any file the process can.
type noSchemaLoader struct{}

func (noSchemaLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("an input schema may not load %s", url)
}

// schemaError says where an input failed the schema of workflow: each
// failing JSON pointer and why, without the schema's internal URL.
func schemaError(workflow string, err error) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var parts []string
	for _, u := range ve.BasicOutput().Errors {
		if u.Error == nil {
			continue
		}
		at := strconv.Quote(u.InstanceLocation)
		if u.InstanceLocation == "" {
			at = "the top level"
		}
		parts = append(parts, fmt.Sprintf("at %s: %s", at, u.Error))
	}
	if len(parts) == 0 {
		parts = append(parts, ve.Error())
	}
	return fmt.Errorf("the input does not match the input schema of %s: %s", workflow, strings.Join(parts, "; "))
}
