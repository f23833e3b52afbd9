package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

func TestBadTemplatesReportEveryProblem(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("ok", func(*engine.StepContext) (any, error) { return nil, nil }))
	cases := []struct {
		name string
		tmpl engine.Template
		want []string
	}{
		{"cycle", engine.Template{Namespace: "t", Name: "c", Steps: []engine.StepTemplate{
			{Name: "a", Handler: "ok", DependsOn: []string{"c"}}, {Name: "b", Handler: "ok", DependsOn: []string{"a"}}, {Name: "c", Handler: "ok", DependsOn: []string{"b"}}}},
			[]string{"dependency cycle: a → c → b → a"}},
		{"unknown dependency and handler", engine.Template{Namespace: "t", Name: "u", Steps: []engine.StepTemplate{
			{Name: "a", Handler: "missing", DependsOn: []string{"ghost"}}}},
			[]string{`depends on unknown step "ghost"`}},
		{"bad routing", engine.Template{Namespace: "t", Name: "q", Queue: "bad\x00queue", Priority: -1, Steps: []engine.StepTemplate{{Name: "a", Handler: "ok"}}},
			[]string{"queue", "priority must be between 0 and 1000, got -1"}},
		{"duplicates", engine.Template{Namespace: "t", Name: "d", Steps: []engine.StepTemplate{{Name: "a", Handler: "ok"}, {Name: "a", Handler: "ok"}}},
			[]string{"duplicate step name"}},
		{"empty", engine.Template{Namespace: "t", Name: "e"}, []string{"no steps"}},
		{"limits", engine.Template{Namespace: "t", Name: "l", Steps: []engine.StepTemplate{{Name: "a", Handler: "ok", RetryLimit: -2, Timeout: -time.Second}}},
			[]string{"retry limit must be at least 1", "timeout must not be negative"}},
		{"self", engine.Template{Namespace: "t", Name: "s", Steps: []engine.StepTemplate{{Name: "a", Handler: "ok", DependsOn: []string{"a"}}}},
			[]string{"depends on itself"}},
		{"bad schema", engine.Template{Namespace: "t", Name: "sc", InputSchema: []byte(`{"type": 12}`), Steps: []engine.StepTemplate{{Name: "a", Handler: "ok"}}},
			[]string{"input schema"}},
	}
	for _, c := range cases {
		err := env.Register(&c.tmpl)
		var te *engine.TemplateError
		if !errors.As(err, &te) || !errors.Is(err, engine.ErrInvalidTemplate) {
			t.Errorf("%s: error %v is not a TemplateError", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not mention %q", c.name, err, w)
			}
		}
		if ps := engine.TemplateProblems(err); c.name == "unknown dependency and handler" && len(ps) != 1 {
			t.Errorf("%s: %d problems reported, want the dependency only (handlers may live in other processes): %v", c.name, len(ps), ps)
		}
	}
	if got := env.Templates(); len(got) != 0 {
		t.Fatalf("refused templates were registered: %v", got)
	}
}

func TestBadInputsWriteNothing(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("ok", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "shop", Name: "order",
		InputSchema: []byte(`{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"integer"}}}`),
		Steps:       []engine.StepTemplate{{Name: "a", Handler: "ok"}}}))
	ctx := context.Background()
	for name, input := range map[string]any{
		"missing field":  map[string]any{"other": 1},
		"wrong type":     map[string]any{"order_id": "seven"},
		"not an object":  []int{1, 2},
		"invalid JSON":   []byte(`{"order_id": `),
		"trailing bytes": []byte(`{"order_id": 1} {}`),
	} {
		if _, err := env.Start(ctx, "shop/order", input); !errors.Is(err, engine.ErrInvalidInput) {
			t.Errorf("%s: error = %v, want ErrInvalidInput", name, err)
		}
	}
	if _, err := env.Start(ctx, "shop/nope", nil); !errors.Is(err, engine.ErrUnknownTemplate) {
		t.Errorf("unknown template: %v", err)
	}
	counts, err := env.Store.CountByState(ctx)
	must(t, err)
	if len(counts.Tasks) != 0 || len(counts.Steps) != 0 {
		t.Fatalf("refused starts wrote rows: %+v", counts)
	}
	// Identity: the same input twice is one task; a key with another input conflicts.
	h1, err := env.Start(ctx, "shop/order", map[string]int{"order_id": 1})
	must(t, err)
	h2, err := env.Start(ctx, "shop/order", []byte(`{ "order_id" : 1 }`))
	must(t, err)
	if !h2.Existing || h2.TaskID != h1.TaskID {
		t.Fatalf("same normalised input started twice: %+v %+v", h1, h2)
	}
	k1, err := env.Start(ctx, "shop/order", map[string]int{"order_id": 2}, engine.WithIdempotencyKey("k"))
	must(t, err)
	if _, err := env.Start(ctx, "shop/order", map[string]int{"order_id": 3}, engine.WithIdempotencyKey("k")); err == nil {
		t.Fatal("same key with a different input was accepted")
	}
	u1, _ := env.Start(ctx, "shop/order", map[string]int{"order_id": 2}, engine.Unique())
	if u1.TaskID == k1.TaskID || u1.Existing {
		t.Fatal("Unique reused a task")
	}
}

func TestYAMLTemplateWithEnvironment(t *testing.T) {
	src := []byte(`
namespace: ecommerce
name: process_order
version: 1.0.0
input_schema: {type: object, required: [order_id], properties: {order_id: {type: integer}}}
steps:
  - name: validate_cart
    handler: ecommerce.validate_cart
  - name: charge_payment
    handler: ecommerce.charge_payment
    depends_on: [validate_cart]
    retry: {limit: 5, backoff: exponential, base: 1s, max: 1m}
    timeout: 30s
    config: {url: https://pay.example/charge, currency: EUR}
environments:
  development:
    steps: [{name: charge_payment, config: {url: http://localhost:3000/charge}}]
`)
	base, err := engine.ParseTemplate(src, "")
	must(t, err)
	dev, err := engine.ParseTemplate(src, "development")
	must(t, err)
	st := dev.Steps[1]
	cfg := st.Config.(map[string]any)
	if cfg["url"] != "http://localhost:3000/charge" || cfg["currency"] != "EUR" {
		t.Fatalf("development config = %v; want the url overridden and currency kept", cfg)
	}
	if base.Steps[1].Config.(map[string]any)["url"] != "https://pay.example/charge" {
		t.Fatal("base config changed")
	}
	if st.RetryLimit != 5 || st.Timeout != 30*time.Second || st.Backoff.Base != time.Second || st.Backoff.Max != time.Minute {
		t.Fatalf("step = %+v", st)
	}
	if _, err := engine.ParseTemplate([]byte("namespace: x\nname: y\nsteps: [{name: a, handler: h, retry: {limit: 0}, timeout: soon}]"), ""); err == nil ||
		!strings.Contains(err.Error(), "retry limit") || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("bad YAML step: %v", err)
	}
}

// Templates lists what is registered in name order, the same every call
// (it read a map).
func TestTemplatesListedInOrder(t *testing.T) {
	e := newEngine(t, engine.Config{})
	var want []string
	for _, name := range []string{"zeta", "alpha", "mid", "beta", "omega", "gamma", "delta", "kappa"} {
		must(t, e.Register(&engine.Template{Namespace: "ns", Name: name, Version: "2", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}))
		want = append(want, "ns/"+name+"@2")
	}
	slices.Sort(want)
	for range 5 {
		if got := e.Templates(); !slices.Equal(got, want) {
			t.Fatalf("Templates() = %v, want %v", got, want)
		}
	}
}
