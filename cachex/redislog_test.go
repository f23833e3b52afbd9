package cachex

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// go-redis's own lines reach the engine's logger, at most one per
// interval; the rest are counted on the next line.
func TestRedisClientLinesAreRoutedAndRateLimited(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	r := &redisLog{log: zap.New(core)}
	for range 5 {
		r.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts", 1)
	}
	if logs.Len() != 1 {
		t.Fatalf("%d lines logged for 5 within the interval, want 1", logs.Len())
	}
	e := logs.All()[0]
	if e.Level != zap.WarnLevel || !strings.Contains(e.Message, "failed to dial after 1 attempts") {
		t.Fatalf("logged %v %q", e.Level, e.Message)
	}
	r.last = r.last.Add(-redisLogEvery) // the interval has passed
	r.Printf(context.Background(), "redis: again")
	if logs.Len() != 2 || logs.All()[1].ContextMap()["similar_lines_suppressed"] != int64(4) {
		t.Fatalf("second line %+v, want 4 suppressed lines counted", logs.All()[1].ContextMap())
	}
}
