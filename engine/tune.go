package engine

import (
	"context"
	"database/sql"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/cachex"
)

// tune moves the concurrency limit between MinConcurrency and
// MaxConcurrency with the pressure on the store's connection pool, while
// the dynamic_concurrency toggle is on (it is off by default; the limit is
// then MaxConcurrency). It applies to stores shared by many processes: on
// SQLite every write goes through one connection by design, so waiting for
// it says nothing about how many handlers may run.
func (e *Engine) tune(ctx context.Context, d *dispatcher) {
	x := e.cfg.Execution
	if e.st.Capabilities().SingleWriter || x.MinConcurrency >= x.MaxConcurrency {
		return
	}
	db := e.st.DB()
	prev := db.Stats()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.clk.After(x.TuneInterval):
		}
		now := db.Stats()
		cur := int(d.max.Load())
		next := x.MaxConcurrency
		if e.Toggle(ctx, cachex.ToggleDynamicConcurrency) {
			next = nextConcurrency(cur, x.MinConcurrency, x.MaxConcurrency, prev, now, int(d.running.Load()))
		}
		if next != cur {
			d.max.Store(int64(next))
			d.signal()
			e.log.Debug("concurrency limit changed", zap.Int("from", cur), zap.Int("to", next),
				zap.Int64("pool_waits", now.WaitCount-prev.WaitCount), zap.Int("pool_in_use", now.InUse))
		}
		prev = now
	}
}

// nextConcurrency is the tuning rule. Callers that had to wait for a
// connection since the last sample mean the pool is the bottleneck: run a
// quarter fewer handlers (so fewer completions and claims queue for
// connections). A limit that is nearly used up while the pool has free
// connections can grow by a quarter. Otherwise it stays.
func nextConcurrency(cur, lo, hi int, prev, now sql.DBStats, running int) int {
	switch {
	case now.WaitCount > prev.WaitCount:
		return max(lo, cur*3/4)
	case running*10 >= cur*9 && (now.MaxOpenConnections == 0 || now.InUse < now.MaxOpenConnections):
		return min(hi, cur+max(1, cur/4))
	}
	return cur
}
