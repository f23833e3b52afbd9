package cachex

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// go-redis writes its own complaints (a "failed to dial" line per attempt
// while Redis is down) to stderr through one process-wide logger. New
// routes them to the logger it was given, at most one line per
// redisLogEvery (the rest are counted and reported with the next line).
// The logger is process-wide in go-redis, so the last cache created with a
// logger receives the lines of every Redis client in the process.

const redisLogEvery = 10 * time.Second

type redisLog struct {
	mu      sync.Mutex
	log     *zap.Logger
	last    time.Time
	dropped atomic.Int64
}

var routedRedisLog = &redisLog{}

func routeRedisLog(l *zap.Logger) {
	if l == nil {
		return
	}
	routedRedisLog.mu.Lock()
	routedRedisLog.log = l
	routedRedisLog.mu.Unlock()
	redisLoggerOnce.Do(func() { redis.SetLogger(routedRedisLog) })
}

var redisLoggerOnce sync.Once

// Printf implements go-redis's logging interface.
func (r *redisLog) Printf(_ context.Context, format string, v ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.log == nil || now.Sub(r.last) < redisLogEvery {
		r.dropped.Add(1)
		return
	}
	r.last = now
	r.log.Warn("redis client: "+fmt.Sprintf(format, v...), zap.Int64("similar_lines_suppressed", r.dropped.Swap(0)))
}
