package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// tracedEngine is the README's tracing snippet: an engine whose spans go
// to the application's OpenTelemetry exporter.
func tracedEngine(st store.Store, exporter sdktrace.SpanExporter) (*engine.Engine, *sdktrace.TracerProvider, error) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter)) // OTLP, stdout, …
	e, err := engine.New(engine.Config{Store: st, TracerProvider: tp})
	if err != nil {
		return nil, nil, err
	}
	return e, tp, nil // tp.Shutdown(ctx) on exit flushes the last spans
}

// A task started under the caller's span: its Start, each step attempt
// (in whichever process runs it) and the whole run are spans of the
// caller's trace.
func ExampleConfig_tracerProvider() {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	exporter := tracetest.NewInMemoryExporter() // an exporter that keeps the spans
	e, tp, err := tracedEngine(st, exporter)
	if err != nil {
		panic(err)
	}
	defer tp.Shutdown(ctx)
	_ = e.HandleFunc("ok", func(*engine.StepContext) (any, error) { return true, nil })
	if err := e.Register(&engine.Template{Namespace: "shop", Name: "order", Steps: []engine.StepTemplate{
		{Name: "pay", Handler: "ok"}, {Name: "ship", Handler: "ok", DependsOn: []string{"pay"}},
	}}); err != nil {
		panic(err)
	}
	go e.Run(ctx)

	cctx, checkout := tp.Tracer("shop").Start(ctx, "checkout")
	h, err := e.Start(cctx, "shop/order", nil)
	if err != nil {
		panic(err)
	}
	checkout.End()
	if _, err := h.Wait(ctx); err != nil {
		panic(err)
	}
	_ = e.Stop(ctx)
	_ = tp.ForceFlush(ctx) // exports the batch (Shutdown would too, and end the provider)

	// The spans as a tree, children by name.
	spans := exporter.GetSpans()
	children := map[string][]string{}
	names := map[string]string{}
	for _, s := range spans {
		names[s.SpanContext.SpanID().String()] = s.Name
		children[s.Parent.SpanID().String()] = append(children[s.Parent.SpanID().String()], s.SpanContext.SpanID().String())
	}
	var print func(id string, depth int)
	print = func(id string, depth int) {
		kids := children[id]
		slices.SortFunc(kids, func(a, b string) int { return strings.Compare(names[a], names[b]) })
		for _, k := range kids {
			fmt.Println(strings.Repeat("  ", depth) + names[k])
			print(k, depth+1)
		}
	}
	print("0000000000000000", 0) // the roots
	// Output:
	// checkout
	//   tasker.start shop/order
	//     tasker.step pay
	//     tasker.step ship
	//     tasker.task shop/order
}
