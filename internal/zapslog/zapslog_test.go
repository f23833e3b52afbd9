package zapslog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/internal/zapslog"
)

func TestBridge(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})
	log := zap.New(zapslog.NewCore(h)).With(zap.Int64("task_id", 7))
	log.Debug("hidden")
	log.Warn("commit failed", zap.String("step", "charge"), zap.Error(errors.New("disk full")), zap.Int("attempt", 2))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1 (debug filtered by the handler's level): %q", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"level": "WARN", "msg": "commit failed", "task_id": float64(7), "step": "charge", "error": "disk full", "attempt": float64(2)}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, got[k], v, lines[0])
		}
	}
}

func TestLevels(t *testing.T) {
	for zl, want := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError, "dpanic": slog.LevelError} {
		l, err := zap.ParseAtomicLevel(zl)
		if err != nil {
			t.Fatal(err)
		}
		if got := zapslog.Level(l.Level()); got != want {
			t.Errorf("Level(%s) = %v, want %v", zl, got, want)
		}
	}
}
