package engine_test

import (
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tasker-go/tasker/engine"
)

// TestZeroTracerProviderRefused: a TracerProvider that panics when asked
// for the engine's tracer (a zero sdktrace.TracerProvider, written as a
// literal) makes New return an error naming the field and its type; New
// panicked.
func TestZeroTracerProviderRefused(t *testing.T) {
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("New panicked: %v", r)
			}
		}()
		_, err = engine.New(engine.Config{Store: openSQLite(t), TracerProvider: &sdktrace.TracerProvider{}})
	}()
	if err == nil || !strings.Contains(err.Error(), "config: TracerProvider *trace.TracerProvider") {
		t.Fatalf("New with a zero TracerProvider: err = %v, want a refusal naming TracerProvider and its type", err)
	}
}
