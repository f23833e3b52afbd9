// Package tuner moves the dispatcher's concurrency limit between a minimum
// and a maximum with the pressure on the store's connection pool.
package tuner

import (
	"context"
	"database/sql"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/dispatch"
	"github.com/tasker-go/tasker/internal/clock"
)

// Config bounds the limit.
type Config struct {
	Min, Max int
	Interval time.Duration
}

// Tuner re-evaluates the limit every Interval.
type Tuner struct {
	cfg  Config
	pool func() sql.DBStats
	clk  clock.Clock
	log  *zap.Logger
	disp *dispatch.Dispatcher
	// enabled says whether tuning is on now (a feature toggle); off, the
	// limit is Max.
	enabled func(context.Context) bool
}

// New returns a tuner reading pool statistics from pool.
func New(cfg Config, pool func() sql.DBStats, clk clock.Clock, log *zap.Logger, disp *dispatch.Dispatcher, enabled func(context.Context) bool) *Tuner {
	return &Tuner{cfg: cfg, pool: pool, clk: clk, log: log, disp: disp, enabled: enabled}
}

// Run tunes until ctx ends.
func (t *Tuner) Run(ctx context.Context) {
	if t.cfg.Min >= t.cfg.Max {
		return
	}
	prev := t.pool()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.clk.After(t.cfg.Interval):
		}
		now := t.pool()
		cur := t.disp.Max()
		next := t.cfg.Max
		if t.enabled(ctx) {
			next = Next(cur, t.cfg.Min, t.cfg.Max, prev, now, t.disp.Running())
		}
		if next != cur {
			t.disp.SetMax(next)
			t.log.Debug("concurrency limit changed", zap.Int("from", cur), zap.Int("to", next),
				zap.Int64("pool_waits", now.WaitCount-prev.WaitCount), zap.Int("pool_in_use", now.InUse))
		}
		prev = now
	}
}

// Next is the tuning rule. Callers that had to wait for a connection since
// the last sample mean the pool is the bottleneck: run a quarter fewer
// handlers (so fewer completions and claims queue for connections). A
// limit that is nearly used up while the pool has free connections can
// grow by a quarter. Otherwise it stays.
func Next(cur, lo, hi int, prev, now sql.DBStats, running int) int {
	switch {
	case now.WaitCount > prev.WaitCount:
		return max(lo, cur*3/4)
	case running*10 >= cur*9 && (now.MaxOpenConnections == 0 || now.InUse < now.MaxOpenConnections):
		return min(hi, cur+max(1, cur/4))
	}
	return cur
}
