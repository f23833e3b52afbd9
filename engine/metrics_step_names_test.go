package engine_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
)

// TestDurableStepNamesDoNotGrowTheSeriesWithoutBound: a code-first
// workflow's durable step names may be made from data (a step per item,
// per order, per URL), and each name was a step label value of its own:
// a histogram's series per name and outcome, for ever, in the registry and
// in the engine. Past a workflow's first 100 names, attempts are
// observed under step="(other)", every attempt still counted.
func TestDurableStepNamesDoNotGrowTheSeriesWithoutBound(t *testing.T) {
	const steps = 130
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	e := newEngine(t, engine.Config{Metrics: m})
	must(t, engine.RegisterWorkflow(e, "t/items", func(wctx *engine.WorkflowContext, n int) (int, error) {
		for i := range n {
			if _, err := engine.Step(wctx, fmt.Sprintf("item-%d", i), func(context.Context) (int, error) { return i, nil }); err != nil {
				return 0, err
			}
		}
		return n, nil
	}))
	h, err := engine.StartWorkflow[int, int](ctx, e, "t/items", steps)
	must(t, err)
	for {
		n, err := e.RunOnce(ctx)
		must(t, err)
		if n == 0 {
			break
		}
	}
	if got, err := h.Result(ctx); err != nil || got != steps {
		t.Fatalf("result %d, %v; want %d", got, err, steps)
	}
	families, err := reg.Gather()
	must(t, err)
	names := map[string]bool{}
	for _, f := range families {
		if f.GetName() != "tasker_step_attempt_duration_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "step" && l.GetValue() != engine.DriverStep {
					names[l.GetValue()] = true
				}
			}
		}
	}
	if len(names) != 101 || !names["(other)"] || !names["item-0"] || !names["item-99"] || names["item-100"] {
		t.Fatalf("%d step label values (item-0 %v, item-99 %v, item-100 %v, (other) %v); want items 0 to 99 and (other)",
			len(names), names["item-0"], names["item-99"], names["item-100"], names["(other)"])
	}
	wf := map[string]string{"workflow": "t/items", "outcome": "complete"}
	all, _ := metricValue(t, reg, "tasker_step_attempt_duration_seconds", wf)
	wf["step"] = "(other)"
	other, _ := metricValue(t, reg, "tasker_step_attempt_duration_seconds", wf)
	wf["step"] = engine.DriverStep
	driver, _ := metricValue(t, reg, "tasker_step_attempt_duration_seconds", wf)
	if all-driver != steps || other != steps-100 {
		t.Fatalf("%v durable attempts observed, %v under (other); want %d and %d", all-driver, other, steps, steps-100)
	}
}
