package engine_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine"
)

// TestOversizedResultIsLoggedAtInfo: a step whose result is over
// Config.MaxPayloadBytes fails (payload_too_large), a step failure like
// any other, which Wait, Explain and the events report: it is logged at
// info (Config.Logger), so the default logger, at warn, says nothing. It
// was also logged at warn.
func TestOversizedResultIsLoggedAtInfo(t *testing.T) {
	ctx := context.Background()
	var buf strings.Builder
	var mu sync.Mutex
	h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) }), &slog.HandlerOptions{Level: slog.LevelInfo})
	e := newEngine(t, engine.Config{Slog: slog.New(h), MaxPayloadBytes: 1 << 10})
	must(t, e.HandleFunc("big", func(*engine.StepContext) (any, error) { return strings.Repeat("x", 2<<10), nil }))
	must(t, e.Register(&engine.Template{Namespace: "l", Name: "big", Steps: []engine.StepTemplate{{Name: "s", Handler: "big"}}}))
	hd, err := e.Start(ctx, "l/big", nil)
	must(t, err)
	_, err = e.RunOnce(ctx)
	must(t, err)
	out, err := hd.Wait(ctx)
	must(t, err)
	if out.Err() == nil || !strings.Contains(out.Err().Error(), "over the limit") {
		t.Fatalf("task outcome %v, want the step failed over the payload limit", out.Err())
	}
	mu.Lock()
	logged := buf.String()
	mu.Unlock()
	if !strings.Contains(logged, `level=INFO msg="step failed"`) {
		t.Errorf("no info line for the failed step in:\n%s", logged)
	}
	for _, line := range strings.Split(strings.TrimSpace(logged), "\n") {
		if !strings.Contains(line, " level=INFO ") {
			t.Errorf("a line above info for a step failure: %s", line)
		}
	}
}

// TestZeroLoggersRefused: a zap.Logger or slog.Logger written as a literal
// (&zap.Logger{}, &slog.Logger{}) has no core or handler: New refuses it
// naming the field, as it refuses a zero Metrics. New took it, and the
// first line the engine logged (a step's first attempt) panicked on the
// worker's goroutine, ending the process.
func TestZeroLoggersRefused(t *testing.T) {
	st := openSQLite(t)
	for _, c := range []struct {
		field string
		cfg   engine.Config
	}{
		{"Logger", engine.Config{Store: st, Logger: &zap.Logger{}}},
		{"Slog", engine.Config{Store: st, Slog: &slog.Logger{}}},
	} {
		if _, err := engine.New(c.cfg); err == nil || !strings.Contains(err.Error(), "config: "+c.field+" is a zero") {
			t.Errorf("New with a zero %s: err = %v, want a refusal naming %s", c.field, err, c.field)
		}
	}
}
