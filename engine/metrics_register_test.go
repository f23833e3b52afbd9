package engine_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
)

// TestRegisteringAnUnmadeMetricsIsRefused: a nil *Metrics, or one written
// as a literal, is refused by the registry's Register with an error
// naming NewMetrics, and the registry is left as it was. Describe
// panicked on either, in the goroutine Register runs it in, so the
// process died.
func TestRegisteringAnUnmadeMetricsIsRefused(t *testing.T) {
	for name, m := range map[string]*engine.Metrics{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			err := reg.Register(m)
			if err == nil || !strings.Contains(err.Error(), "engine.NewMetrics()") {
				t.Fatalf("Register(%s Metrics) = %v, want a refusal naming engine.NewMetrics()", name, err)
			}
			if families, err := reg.Gather(); err != nil || len(families) != 0 {
				t.Fatalf("after the refusal the registry gathers %d families, %v; want none, no error", len(families), err)
			}
			// Collected directly (an unchecked registration), it fails the
			// scrape with the same words rather than panic.
			ch := make(chan prometheus.Metric, 1)
			m.Collect(ch)
			if werr := (<-ch).Write(nil); werr == nil || !strings.Contains(werr.Error(), "engine.NewMetrics()") {
				t.Fatalf("Collect of a %s Metrics wrote %v, want an error naming engine.NewMetrics()", name, werr)
			}
		})
	}
}
