package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/orderflow"
	"github.com/tasker-go/tasker/retry"
)

func stepNamed(t *testing.T, tmpl *engine.Template, name string) engine.StepTemplate {
	t.Helper()
	for _, s := range tmpl.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("template has no step %q", name)
	return engine.StepTemplate{}
}

func config(t *testing.T, s engine.StepTemplate) map[string]any {
	t.Helper()
	m, ok := s.Config.(map[string]any)
	if !ok {
		t.Fatalf("config of %s is %T, want a map", s.Name, s.Config)
	}
	return m
}

// The YAML file declares the same graph as orderflow.Template.
func TestYAMLMatchesGoTemplate(t *testing.T) {
	y, err := engine.LoadTemplateFile("process_order.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	g := orderflow.Template()
	if y.FullName() != g.FullName() || y.Version != g.Version {
		t.Fatalf("YAML is %s@%s, Go is %s@%s", y.FullName(), y.Version, g.FullName(), g.Version)
	}
	if len(y.Steps) != len(g.Steps) {
		t.Fatalf("YAML has %d steps, Go %d", len(y.Steps), len(g.Steps))
	}
	for _, gs := range g.Steps {
		ys := stepNamed(t, y, gs.Name)
		if ys.Handler != gs.Handler || strings.Join(ys.DependsOn, ",") != strings.Join(gs.DependsOn, ",") {
			t.Errorf("step %s: YAML %s after %v, Go %s after %v", gs.Name, ys.Handler, ys.DependsOn, gs.Handler, gs.DependsOn)
		}
	}
	pay := stepNamed(t, y, "charge_payment")
	if pay.Backoff != (retry.Policy{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}) || pay.RetryLimit != 3 || pay.Timeout != 30*time.Second {
		t.Errorf("charge_payment policy: backoff %+v, limit %d, timeout %s", pay.Backoff, pay.RetryLimit, pay.Timeout)
	}
	if len(y.InputSchema) == 0 {
		t.Error("input schema missing")
	}
}

func TestEnvironmentOverrideMerges(t *testing.T) {
	base, err := engine.LoadTemplateFile("process_order.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := engine.LoadTemplateFile("process_order.yaml", "development")
	if err != nil {
		t.Fatal(err)
	}
	bc, dc := config(t, stepNamed(t, base, "charge_payment")), config(t, stepNamed(t, dev, "charge_payment"))
	if bc["gateway"] != "https://pay.example/charge" {
		t.Errorf("base gateway = %v", bc["gateway"])
	}
	if dc["gateway"] != "http://localhost:3000/charge" {
		t.Errorf("development gateway = %v, want the override", dc["gateway"])
	}
	// Deep merge: keys the override does not name survive.
	if dc["currency"] != "USD" {
		t.Errorf("development currency = %v, want USD kept from the base", dc["currency"])
	}
	bp, dp := stepNamed(t, base, "charge_payment"), stepNamed(t, dev, "charge_payment")
	if bp.RetryLimit != 3 || dp.RetryLimit != 5 {
		t.Errorf("retry limit: base %d, development %d; want 3 and 5", bp.RetryLimit, dp.RetryLimit)
	}
	// retry is a map: its other keys survive the override of limit.
	if dp.Backoff != bp.Backoff {
		t.Errorf("development backoff %+v, want the base's %+v", dp.Backoff, bp.Backoff)
	}
	if dp.Handler != bp.Handler || strings.Join(dp.DependsOn, ",") != "validate_cart" {
		t.Errorf("development charge_payment lost fields: %+v", dp)
	}
	if len(dev.Steps) != len(base.Steps) {
		t.Errorf("development has %d steps, base %d", len(dev.Steps), len(base.Steps))
	}
	// An environment the file does not declare is an error naming those it does.
	_, err = engine.LoadTemplateFile("process_order.yaml", "production")
	if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), `"production"`) || !strings.Contains(err.Error(), "development") {
		t.Errorf("undeclared environment: %v, want ErrInvalidTemplate naming it and development", err)
	}
}

// The program runs orders through the YAML template with orderflow's
// handlers, and the override reaches the handler.
func TestRun(t *testing.T) {
	for _, tc := range []struct{ env, gateway string }{
		{"", "https://pay.example/charge"},
		{"development", "http://localhost:3000/charge"},
	} {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := run(ctx, &out, "process_order.yaml", tc.env, 3)
		cancel()
		if err != nil {
			t.Fatalf("env %q: %v\n%s", tc.env, err, out.String())
		}
		got := out.String()
		if n := strings.Count(got, "complete, charged"); n != 3 {
			t.Errorf("env %q: %d orders complete, want 3:\n%s", tc.env, n, got)
		}
		if !strings.Contains(got, "via "+tc.gateway) {
			t.Errorf("env %q: gateway %s not used:\n%s", tc.env, tc.gateway, got)
		}
		if !strings.Contains(got, "ORD-000003 complete, charged 7500 cents via "+tc.gateway+" on attempt 2") {
			t.Errorf("env %q: order 3 should be charged on its second attempt:\n%s", tc.env, got)
		}
	}
}

// A word after the flags and an -orders below 1 are refused: the first was
// ignored (go run ./examples/yaml prod ran the development override), the
// second ran no order and exited 0, as if all had gone well.
func TestMistakenArgumentsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"prod"}, `unexpected argument "prod": the environment is -env NAME`},
		{[]string{"-orders", "0"}, "-orders must be at least 1, got 0"},
		{[]string{"-orders", "-2"}, "-orders must be at least 1, got -2"},
	} {
		if _, err := parseArgs(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseArgs(%q): %v, want an error saying %q", c.args, err, c.want)
		}
	}
	a, err := parseArgs([]string{"-env", "", "-orders", "2"})
	if err != nil || a.env != "" || a.orders != 2 || a.file != "" {
		t.Fatalf("parseArgs(-env '' -orders 2) = %+v, %v", a, err)
	}
}
