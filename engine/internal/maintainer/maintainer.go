// Package maintainer keeps leases alive and the store tidy: the heartbeat
// extends the leases of the steps running here (and cancels those whose
// lease was lost); the maintenance pass rescues expired leases, cancels
// the children left running by parents that ended for good, and deletes
// old finished tasks, in the one process elected for it (always this one on
// SQLite).
package maintainer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/inflight"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
)

// ErrLeaseLost is the cause a handler's context is cancelled with when its
// lease could not be extended.
var ErrLeaseLost = errors.New("lease lost")

// Config tunes the maintainer.
type Config struct {
	Owner          string
	LeaseTTL       time.Duration // heartbeats run every third of it
	RescueInterval time.Duration
	// Retention is the default retention: finished tasks without one of
	// their own are deleted this long after they finished (0: kept).
	// Tasks created with a retention of their own are deleted by it
	// whatever this says.
	Retention time.Duration
	// PurgeBatchTime is what one retention batch should take on a
	// single-writer store (0: PurgeBatchTime).
	PurgeBatchTime time.Duration
	// DeadlineCause makes, for each rescue, the failure of the tasks past
	// their deadline (store.RescueExpiredParams.DeadlineCause; nil: not
	// looked for), and ExpiredCause that of the steps whose lease expired
	// (ExpiredCause; nil: the store's own). Made per rescue, they tell the
	// system's state as it runs.
	DeadlineCause, ExpiredCause func() store.JSON
}

// Hooks are told what happened. Each may be nil.
type Hooks struct {
	// Rescued: the rescue pass's result (tasks it failed among them).
	Rescued func(res *store.RescueResult)
	// Orphans: cancel these unfinished children of parents ended for
	// good (store.ListOrphans); it returns how many it cancelled.
	Orphans func(ctx context.Context, orphans []store.Orphan) int
	// Beat: called on every heartbeat, leases or not (the engine refreshes
	// its worker registry row with it).
	Beat func(ctx context.Context)
	// Pass: called after every maintenance pass, with whether this
	// process leads (and once with false when Maintain returns while
	// leading): work that one process does for all (the queue lag
	// metrics) hangs here.
	Pass func(ctx context.Context, leading bool)
}

// Maintainer runs the heartbeat and the maintenance pass.
type Maintainer struct {
	cfg      Config
	st       store.Store
	clk      clock.Clock
	log      *zap.Logger
	inflight *inflight.Set
	hooks    Hooks
	batch    atomic.Int64 // the next purge batch's size on a single-writer store (0: not yet sized)
	orphans  atomic.Int64 // the orphan a pass stopped after: the next starts past it (0: from the first)
	// The bounds of a pass: OrphanBatch, OrphanPerPass and PurgePerPass
	// (tests make them smaller, to test them on fewer rows).
	orphanBatch, orphanPerPass, purgePerPass int
}

// New returns a maintainer.
func New(cfg Config, st store.Store, clk clock.Clock, log *zap.Logger, in *inflight.Set, hooks Hooks) *Maintainer {
	return &Maintainer{cfg: cfg, st: st, clk: clk, log: log, inflight: in, hooks: hooks,
		orphanBatch: OrphanBatch, orphanPerPass: OrphanPerPass, purgePerPass: PurgePerPass}
}

// Heartbeat extends leases (and calls Hooks.Beat) every third of the
// lease TTL until ctx ends. When the extensions fail for so long that a
// lease must have expired — the database is unreachable, say — the
// handler holding it is cancelled (ErrLeaseLost): another worker may run
// that step now, and its result here would be refused.
func (m *Maintainer) Heartbeat(ctx context.Context) {
	every := m.cfg.LeaseTTL / 3
	good := map[store.Lease]time.Time{} // when each lease was last known to hold
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.clk.After(every):
		}
		if m.hooks.Beat != nil {
			m.hooks.Beat(ctx)
		}
		leases := m.inflight.Leases()
		now := m.clk.Now()
		held := make(map[store.Lease]time.Time, len(leases))
		for _, l := range leases {
			// First seen now: claimed no later, so it expires no
			// later than now+TTL.
			held[l] = cmp.Or(good[l], now)
		}
		good = held
		if len(leases) == 0 {
			continue
		}
		lost, err := m.st.ExtendLeases(ctx, &store.ExtendLeasesParams{Leases: leases, LeaseTTL: m.cfg.LeaseTTL, Now: m.clk.StoreNow()})
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			var expired []store.Lease
			for l, at := range good {
				if !now.Before(at.Add(m.cfg.LeaseTTL)) {
					expired = append(expired, l)
				}
			}
			m.log.Warn("extending leases failed", zap.Error(err), zap.Int("expired", len(expired)))
			m.inflight.CancelLost(expired, ErrLeaseLost)
			continue
		}
		after := m.clk.Now()
		for l := range good {
			good[l] = after
		}
		m.inflight.CancelLost(lost, ErrLeaseLost)
	}
}

// Maintain runs the maintenance pass every RescueInterval while this
// process leads, until ctx ends.
func (m *Maintainer) Maintain(ctx context.Context) {
	// unsure: the last election failed, and may have renewed the
	// leadership all the same (its reply lost): resigned too at the end,
	// or the others waited out its lease.
	leading, unsure := false, false
	defer func() {
		if leading || unsure {
			_ = m.st.Resign(context.WithoutCancel(ctx), "maintenance", m.cfg.Owner)
		}
		if leading && m.hooks.Pass != nil {
			m.hooks.Pass(context.WithoutCancel(ctx), false)
		}
	}()
	for {
		lead := true
		if !m.st.Capabilities().SingleWriter {
			var err error
			lead, err = m.st.Elect(ctx, &store.ElectParams{Name: "maintenance", Owner: m.cfg.Owner, TTL: 3 * m.cfg.RescueInterval, Now: m.clk.StoreNow()})
			unsure = err != nil
			if err != nil && ctx.Err() == nil {
				m.log.Warn("maintenance election failed", zap.Error(err))
			}
			if lead != leading {
				m.log.Info("maintenance leadership changed", zap.Bool("leader", lead))
			}
		}
		leading = lead
		if lead {
			if _, err := m.Rescue(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("rescuing expired leases failed", zap.Error(err))
			}
			m.CloseOrphans(ctx)
			var before time.Time // zero: the default keeps
			if m.cfg.Retention > 0 {
				before = m.clk.Now().Add(-m.cfg.Retention)
			}
			m.purge(ctx, before)
		}
		if m.hooks.Pass != nil && ctx.Err() == nil {
			m.hooks.Pass(ctx, lead)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.clk.After(m.cfg.RescueInterval):
		}
	}
}

// RescueBatch bounds one rescue transaction (steps, and overdue tasks).
const RescueBatch = 1000

// Rescue returns steps whose leases expired to pending (or fails their
// tasks when they are out of attempts), fails the tasks past their
// deadline, and reports how many steps and tasks it moved. It takes them
// all, a batch (one short transaction) at a time: a fleet that died with
// more steps in hand than one batch would otherwise wait a pass for the
// rest.
func (m *Maintainer) Rescue(ctx context.Context) (int, error) {
	n := 0
	var deadline, expired store.JSON
	if m.cfg.DeadlineCause != nil {
		deadline = m.cfg.DeadlineCause()
	}
	if m.cfg.ExpiredCause != nil {
		expired = m.cfg.ExpiredCause()
	}
	for {
		res, err := m.st.RescueExpired(ctx, &store.RescueExpiredParams{Limit: RescueBatch, Now: m.clk.StoreNow(), DeadlineCause: deadline, ExpiredCause: expired})
		if err != nil {
			return n, fmt.Errorf("rescuing expired leases: %w", err)
		}
		n += res.Rescued + res.Failed + res.TimedOut
		if res.Rescued+res.Failed > 0 {
			m.log.Info("rescued steps with expired leases", zap.Int("rescued", res.Rescued), zap.Int("failed", res.Failed))
		}
		if res.TimedOut > 0 {
			m.log.Info("failed tasks past their workflow timeout", zap.Int("tasks", res.TimedOut))
		}
		if m.hooks.Rescued != nil {
			m.hooks.Rescued(res)
		}
		if res.Rescued+res.Failed < RescueBatch && res.TimedOut < RescueBatch {
			return n, nil
		}
	}
}

// OrphanBatch bounds one read of orphaned tasks, and OrphanPerPass those
// one maintenance pass tries to cancel: a backlog (parents that ended
// before an upgrade that cancels their children) is worked off a bounded
// amount per pass, as the retention's is.
const (
	OrphanBatch   = 100
	OrphanPerPass = 1000
)

// CloseOrphans cancels, through Hooks.Orphans, the unfinished children of
// parents that ended for good (store.ListOrphans), trying at most
// OrphanPerPass, and returns how many it cancelled. The process that
// ended a parent cancels its children after that commit: one that died
// in between left them running, and this finds them. It reads them in id
// order, each batch after the last one read, so a child it could not
// cancel (its cancel keeps failing) holds back none after it; a pass
// starts where the last stopped, and once it has read to the end goes on
// from the first, up to where it started (the ones it failed to cancel
// among them), within its bound. The position is shared by the
// maintenance pass and Engine.Rescue: without the wrap, a Rescue called
// after a pass that stopped midway read only past it, and missed every
// orphan before.
func (m *Maintainer) CloseOrphans(ctx context.Context) int {
	total, tried := 0, 0
	start := m.orphans.Load()
	after, wrapped := start, start == 0
	for tried < m.orphanPerPass && m.hooks.Orphans != nil && ctx.Err() == nil {
		limit := min(m.orphanBatch, m.orphanPerPass-tried)
		orphans, err := m.st.ListOrphans(ctx, &store.ListOrphansParams{After: after, Limit: limit})
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("listing the unfinished children of ended tasks failed", zap.Error(err))
			}
			return total
		}
		end := len(orphans) < limit
		if wrapped && start != 0 {
			// Past where the pass started: read already, in this pass.
			for i, o := range orphans {
				if o.ID > start {
					orphans, end = orphans[:i], true
					break
				}
			}
		}
		if len(orphans) > 0 {
			n := m.hooks.Orphans(ctx, orphans)
			total += n
			tried += len(orphans)
			after = orphans[len(orphans)-1].ID
			m.log.Info("cancelled the unfinished children of ended tasks", zap.Int("tasks", n), zap.Int("not_cancelled", len(orphans)-n))
		}
		if end {
			if !wrapped { // on from the first, up to where the pass started
				wrapped, after = true, 0
				continue
			}
			m.orphans.Store(0) // every orphan was tried: the next pass starts over
			return total
		}
		m.orphans.Store(after)
	}
	return total
}

// PurgeBatch bounds one delete (one short transaction), and PurgePerPass
// the tasks one maintenance pass deletes: a backlog (say, retention
// switched on over months of history) is worked off a bounded amount per
// pass instead of holding the writer for minutes. With the default 5 s
// pass that is up to 1,000 tasks/s, three times the steady start rate
// measured on SQLite.
//
// On a single-writer store (SQLite) every write — a claim, a completion —
// waits for the batch holding the writer, so there a batch is sized to
// take about PurgeBatchTime (halved after a slower one, grown by a quarter
// after a quicker one, between PurgeMinBatch and PurgeBatch), and after
// each batch the purge leaves the writer free for as long as the batch
// held it. A claim then waits at most about PurgeBatchTime for the purge,
// and the purge takes at most half the writer.
const (
	PurgeBatch     = 200
	PurgeMinBatch  = 10
	PurgePerPass   = 5000
	PurgeBatchTime = 5 * time.Millisecond
)

// purge deletes finished tasks older than before (those with a retention
// of their own: older than it), at most PurgePerPass; it returns how many
// it deleted.
func (m *Maintainer) purge(ctx context.Context, before time.Time) int {
	single := m.st.Capabilities().SingleWriter
	total := 0
	for total < m.purgePerPass {
		if ctx.Err() != nil {
			return total
		}
		size := PurgeBatch
		if single {
			size = m.purgeSize()
		}
		size = min(size, m.purgePerPass-total)
		began := time.Now()
		n, err := m.st.DeleteFinished(ctx, &store.DeleteFinishedParams{Before: before, Now: m.clk.Now(), Limit: size})
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("retention: deleting finished tasks failed", zap.Error(err))
			}
			return total
		}
		took := time.Since(began)
		total += n
		if n < size {
			return total
		}
		if single {
			m.adjustPurge(size, took, cmp.Or(m.cfg.PurgeBatchTime, PurgeBatchTime))
			// Real time, not the engine's clock: this paces the
			// database, whatever time the engine's tasks run on.
			t := time.NewTimer(took)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	return total
}

// purgeSize is the next batch's size on a single-writer store.
func (m *Maintainer) purgeSize() int {
	if n := int(m.batch.Load()); n > 0 {
		return n
	}
	return PurgeBatch / 4
}

// adjustPurge sizes the next batch from how long one of size took, for
// batches meant to take target.
func (m *Maintainer) adjustPurge(size int, took, target time.Duration) {
	next := size
	switch {
	case took > target:
		next = size / 2
	case took < target/2:
		next = size + max(1, size/4)
	}
	m.batch.Store(int64(min(max(next, PurgeMinBatch), PurgeBatch)))
}

// Purge runs one retention pass now (deleting what finished before
// before), as the leader's maintenance does; it returns how many tasks it
// deleted.
func (m *Maintainer) Purge(ctx context.Context, before time.Time) int { return m.purge(ctx, before) }
