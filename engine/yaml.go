package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/tasker-go/tasker/retry"
)

// yamlTemplate is the file format (one template per file):
//
//	namespace: ecommerce
//	name: process_order
//	version: 1.0.0
//	input_schema: {type: object, required: [order_id]}
//	steps:
//	  - name: charge_payment
//	    handler: ecommerce.charge_payment
//	    depends_on: [validate_cart]
//	    retry: {limit: 5, backoff: exponential, base: 1s, max: 1m}
//	    timeout: 30s
//	    config: {url: https://pay.example/charge}
//	environments:
//	  development:
//	    steps: [{name: charge_payment, config: {url: http://localhost:3000/charge}}]
type yamlTemplate struct {
	Namespace   string          `json:"namespace"`
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
	Steps       []yamlStep      `json:"steps"`
}

type yamlStep struct {
	Name            string     `json:"name"`
	Handler         string     `json:"handler"`
	DependsOn       []string   `json:"depends_on"`
	Retryable       *bool      `json:"retryable"`
	Retry           *yamlRetry `json:"retry"`
	Timeout         string     `json:"timeout"`
	Skippable       bool       `json:"skippable"`
	Config          any        `json:"config"`
	DependentSystem string     `json:"dependent_system"`
}

type yamlRetry struct {
	Limit   *int   `json:"limit"`
	Backoff string `json:"backoff"`
	Base    string `json:"base"`
	Max     string `json:"max"`
}

// LoadTemplateFile reads a YAML template; env, when not empty, selects the
// environments.<env> overrides, deep-merged over the base.
func LoadTemplateFile(path, env string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading template: %w", err)
	}
	t, err := ParseTemplate(data, env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseTemplate parses a YAML template; see LoadTemplateFile.
func ParseTemplate(data []byte, env string) (*Template, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing template YAML: %w", err)
	}
	if doc == nil {
		return nil, &TemplateError{Template: "(empty)", Problems: []string{"the file is empty"}}
	}
	envs, _ := doc["environments"].(map[string]any)
	delete(doc, "environments")
	if env != "" {
		if over, ok := envs[env].(map[string]any); ok {
			doc = mergeTemplate(doc, over)
		}
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	var y yamlTemplate
	if err := json.Unmarshal(raw, &y); err != nil {
		return nil, fmt.Errorf("template fields: %w", err)
	}
	t := &Template{Namespace: y.Namespace, Name: y.Name, Version: y.Version, Description: y.Description}
	if len(y.InputSchema) > 0 && string(y.InputSchema) != "null" {
		t.InputSchema = y.InputSchema
	}
	var problems []string
	for _, ys := range y.Steps {
		st := StepTemplate{Name: ys.Name, Handler: ys.Handler, DependsOn: ys.DependsOn, Skippable: ys.Skippable,
			Config: ys.Config, DependentSystem: ys.DependentSystem}
		if ys.Retryable != nil {
			st.NotRetryable = !*ys.Retryable
		}
		dur := func(field, s string) time.Duration {
			if s == "" {
				return 0
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				problems = append(problems, fmt.Sprintf("step %q: %s: %v", ys.Name, field, err))
			}
			return d
		}
		st.Timeout = dur("timeout", ys.Timeout)
		if r := ys.Retry; r != nil {
			if r.Limit != nil {
				if *r.Limit < 1 {
					problems = append(problems, fmt.Sprintf("step %q: retry limit must be at least 1, got %d", ys.Name, *r.Limit))
				}
				st.RetryLimit = *r.Limit
			}
			switch r.Backoff {
			case "", "exponential":
			default:
				problems = append(problems, fmt.Sprintf("step %q: backoff %q is not supported (exponential)", ys.Name, r.Backoff))
			}
			st.Backoff = retry.Policy{Base: dur("retry.base", r.Base), Max: dur("retry.max", r.Max)}
		}
		t.Steps = append(t.Steps, st)
	}
	if len(problems) > 0 {
		return nil, &TemplateError{Template: t.FullName(), Problems: problems}
	}
	return t, nil
}

// mergeTemplate deep-merges an environment's overrides over the base:
// maps merge key by key, steps merge by name, everything else is replaced.
func mergeTemplate(base, over map[string]any) map[string]any {
	for k, v := range over {
		if k == "steps" {
			base[k] = mergeSteps(base[k], v)
			continue
		}
		base[k] = deepMerge(base[k], v)
	}
	return base
}

func mergeSteps(base, over any) any {
	bl, _ := base.([]any)
	ol, _ := over.([]any)
	for _, o := range ol {
		om, _ := o.(map[string]any)
		found := false
		for i, b := range bl {
			if bm, ok := b.(map[string]any); ok && bm["name"] == om["name"] {
				bl[i] = deepMerge(bm, om)
				found = true
			}
		}
		if !found {
			bl = append(bl, o)
		}
	}
	return bl
}

func deepMerge(base, over any) any {
	bm, ok1 := base.(map[string]any)
	om, ok2 := over.(map[string]any)
	if !ok1 || !ok2 {
		return over
	}
	for k, v := range om {
		bm[k] = deepMerge(bm[k], v)
	}
	return bm
}
