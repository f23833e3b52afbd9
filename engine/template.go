package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
)

// Template declares a workflow as a DAG of named steps.
type Template struct {
	Namespace   string
	Name        string
	Version     string
	Description string
	// InputSchema is an optional JSON Schema every input must satisfy.
	InputSchema json.RawMessage
	Steps       []StepTemplate

	schema *jsonschema.Schema
}

// StepTemplate declares one step.
type StepTemplate struct {
	Name      string
	Handler   string
	DependsOn []string
	// NotRetryable: the step runs once; a failure fails the task.
	NotRetryable bool
	// RetryLimit is the total number of attempts (default 3).
	RetryLimit int
	Backoff    retry.Policy
	// Timeout bounds one attempt (0: no timeout beyond the engine's).
	Timeout   time.Duration
	Skippable bool
	// Config is handed to the handler as its configuration (any
	// JSON-encodable value).
	Config any
	// DependentSystem names the external system the step calls.
	DependentSystem string
}

// FullName is "namespace/name".
func (t *Template) FullName() string { return t.Namespace + "/" + t.Name }

// stepPolicy is what a step row carries about how to run it.
type stepPolicy struct {
	Backoff         retry.Policy  `json:"backoff"`
	Timeout         time.Duration `json:"timeout,omitempty"`
	DependentSystem string        `json:"dependent_system,omitempty"`
}

// Validate reports every problem with the template at once. known, when
// not nil, says whether a handler name is registered.
func (t *Template) Validate(known func(string) bool) error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if t.Namespace == "" {
		add("namespace is required")
	}
	if t.Name == "" {
		add("name is required")
	}
	if strings.ContainsAny(t.Namespace+t.Name, "/@") {
		add("namespace and name must not contain '/' or '@'")
	}
	if len(t.Steps) == 0 {
		add("template has no steps")
	}
	seen := map[string]bool{}
	for i, s := range t.Steps {
		where := fmt.Sprintf("step %q", s.Name)
		if s.Name == "" {
			where = fmt.Sprintf("step #%d", i+1)
			add("%s: name is required", where)
		}
		if seen[s.Name] && s.Name != "" {
			add("%s: duplicate step name", where)
		}
		seen[s.Name] = true
		if s.Handler == "" {
			add("%s: handler is required", where)
		} else if known != nil && !known(s.Handler) {
			add("%s: unknown handler %q", where, s.Handler)
		}
		if s.RetryLimit < 0 {
			add("%s: retry limit must be at least 1, got %d", where, s.RetryLimit)
		}
		if s.Timeout < 0 {
			add("%s: timeout must not be negative, got %s", where, s.Timeout)
		}
		if err := s.Backoff.Validate(); err != nil {
			add("%s: %v", where, err)
		}
		if s.Config != nil {
			if _, err := json.Marshal(s.Config); err != nil {
				add("%s: config is not JSON-encodable: %v", where, err)
			}
		}
	}
	for _, s := range t.Steps {
		for _, d := range s.DependsOn {
			switch {
			case d == s.Name:
				add("step %q depends on itself", s.Name)
			case !seen[d]:
				add("step %q depends on unknown step %q", s.Name, d)
			}
		}
	}
	if cycle := store.FindCycle(t.newSteps()); cycle != nil {
		add("dependency cycle: %s", strings.Join(cycle, " → "))
	}
	if len(t.InputSchema) > 0 {
		if _, err := compileSchema(t.InputSchema); err != nil {
			add("input schema: %v", err)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &TemplateError{Template: t.FullName(), Problems: problems}
}

// newSteps is the template as store rows: the same graph validation
// checked is the graph the store executes.
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
		policy, _ := json.Marshal(stepPolicy{Backoff: s.Backoff, Timeout: s.Timeout, DependentSystem: s.DependentSystem})
		out[i] = store.NewStep{
			Name: s.Name, Handler: s.Handler, DependsOn: slices.Clone(s.DependsOn),
			Config: cfg, Policy: policy, Retryable: !s.NotRetryable, RetryLimit: limit, Skippable: s.Skippable,
		}
	}
	return out
}

func compileSchema(doc json.RawMessage) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(doc)))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("input.json", v); err != nil {
		return nil, err
	}
	return c.Compile("input.json")
}
