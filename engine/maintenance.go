package engine

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

// heartbeat extends the leases of running steps every third of the lease
// TTL and cancels the handlers whose lease was lost.
func (e *Engine) heartbeat(ctx context.Context) {
	every := e.cfg.Execution.LeaseTTL / 3
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.clk.After(every):
		}
		e.imu.Lock()
		leases := make([]store.Lease, 0, len(e.inflight))
		for _, f := range e.inflight {
			leases = append(leases, f.lease)
		}
		e.imu.Unlock()
		if len(leases) == 0 {
			continue
		}
		lost, err := e.st.ExtendLeases(ctx, &store.ExtendLeasesParams{Leases: leases, LeaseTTL: e.cfg.Execution.LeaseTTL, Now: e.now()})
		if err != nil {
			e.log.Warn("extending leases failed", zap.Error(err))
			continue
		}
		e.imu.Lock()
		for _, l := range lost {
			if f, ok := e.inflight[l.StepID]; ok && f.lease == l {
				f.cancel(errLeaseLost)
			}
		}
		e.imu.Unlock()
	}
}

// maintain runs the periodic upkeep — rescuing expired leases and, when
// Retention is set, deleting old finished tasks — in the one process that
// holds the "maintenance" leadership (always this one on SQLite).
func (e *Engine) maintain(ctx context.Context) {
	x := e.cfg.Execution
	leading := false
	defer func() {
		if leading {
			_ = e.st.Resign(context.WithoutCancel(ctx), "maintenance", e.cfg.WorkerID)
		}
	}()
	for {
		lead := true
		if !e.st.Capabilities().SingleWriter {
			var err error
			lead, err = e.st.Elect(ctx, &store.ElectParams{Name: "maintenance", Owner: e.cfg.WorkerID, TTL: 3 * x.RescueInterval, Now: e.now()})
			if err != nil && ctx.Err() == nil {
				e.log.Warn("maintenance election failed", zap.Error(err))
			}
			if lead != leading {
				e.log.Info("maintenance leadership changed", zap.Bool("leader", lead))
			}
		}
		leading = lead
		if lead {
			e.Rescue(ctx)
			if x.Retention > 0 {
				e.purge(ctx, e.clk.Now().Add(-x.Retention))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.clk.After(x.RescueInterval):
		}
	}
}

// purge deletes finished tasks older than before in bounded batches.
func (e *Engine) purge(ctx context.Context, before time.Time) {
	for ctx.Err() == nil {
		n, err := e.st.DeleteFinished(ctx, &store.DeleteFinishedParams{Before: before, Limit: 500})
		if err != nil {
			e.log.Warn("retention: deleting finished tasks failed", zap.Error(err))
			return
		}
		if n < 500 {
			return
		}
	}
}

// Rescue returns steps whose leases expired to pending now (the engine also
// does it on an interval) and reports how many it moved.
func (e *Engine) Rescue(ctx context.Context) int {
	res, err := e.st.RescueExpired(ctx, &store.RescueExpiredParams{Now: e.now()})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("rescuing expired leases failed", zap.Error(err))
		}
		return 0
	}
	for _, t := range res.Tasks {
		e.emit(Event{Name: EventTaskFailed, TaskID: t.TaskID})
		e.taskChanged(t.TaskID)
	}
	if n := res.Rescued + res.Failed; n > 0 {
		e.log.Info("rescued steps with expired leases", zap.Int("rescued", res.Rescued), zap.Int("failed", res.Failed))
		e.Notify()
		return n
	}
	return 0
}
