package engine_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tasker-go/tasker/engine"
)

// TestDurableStepInterruptedByShutdown: a durable step running when Stop
// cancels the handlers is interrupted, as a DAG step's attempt is: its
// observation and its span say outcome interrupted, not abandoned (which
// is a cancelled task's or a lost lease's).
func TestDurableStepInterruptedByShutdown(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	e := newEngine(t, engine.Config{Metrics: m, TracerProvider: tp})
	running := make(chan struct{})
	must(t, engine.RegisterWorkflow(e, "t/slow", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		return engine.Step(wctx, "wait", func(ctx context.Context) (int, error) {
			close(running)
			<-ctx.Done()
			return 0, ctx.Err()
		})
	}))
	done, err := e.RunBackground(ctx)
	must(t, err)
	_, err = engine.StartWorkflow[int, int](ctx, e, "t/slow", 1)
	must(t, err)
	<-running
	stopCtx, cancel := context.WithCancel(ctx)
	cancel() // no grace: the handlers are cancelled at once
	_ = e.Stop(stopCtx)
	<-done

	step := map[string]string{"workflow": "t/slow", "step": "wait"}
	for outcome, want := range map[string]float64{"interrupted": 1, "abandoned": 0} {
		step["outcome"] = outcome
		if got, _ := metricValue(t, reg, "tasker_step_attempt_duration_seconds", step); got != want {
			t.Errorf("durable step's attempts with outcome %s = %v, want %v", outcome, got, want)
		}
	}
	if got := only(t, spansOf(exp), "tasker.step wait").Attrs["tasker.outcome"]; got != "interrupted" {
		t.Errorf("durable step's span outcome %q, want interrupted", got)
	}
}
