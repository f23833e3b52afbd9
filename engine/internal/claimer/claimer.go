// Package claimer is the claim loop: it claims batches of ready steps while
// the dispatcher has room, and otherwise waits for a reason to look again —
// work created in this process, a store wake-up (Postgres LISTEN/NOTIFY), a
// freed slot while ready work is waiting, the poll interval, or the
// earliest known due time (a retry, a sleep's end, a lease expiry), which
// it arms its timer for whether handlers are running or not.
package claimer

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/dispatch"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
)

// Config tunes the loop.
type Config struct {
	Owner        string
	BatchSize    int
	LeaseTTL     time.Duration
	PollInterval time.Duration
	// Handlers returns the handlers this process serves (claims take only
	// their steps); nil means any.
	Handlers func() []string
	// Queues restricts claims to these queues (empty: any).
	Queues []string
	// ByReadyTime, when set, says whether this claim orders by ready time
	// alone (priority ignored), so low-priority work is not starved.
	ByReadyTime func() bool
	// Batch, when set, is the batch size of the next claim (at most
	// BatchSize); nil: BatchSize.
	Batch func() int
}

// Hooks are told what happened. Each may be nil.
type Hooks struct {
	Claimed     func(n int) // steps claimed in one transaction
	Transaction func()      // a claim transaction ran
	// Rescue returns expired leases to pending; the loop calls it when a
	// lease expiry is the earliest due time and nothing was claimable.
	Rescue func(ctx context.Context) int
	// Batch is told each claim's outcome: the batch size it was allowed,
	// the steps it claimed, how long it took and whether it failed.
	Batch func(size, claimed int, took time.Duration, failed bool)
}

// Loop claims steps for a dispatcher.
type Loop struct {
	cfg       Config
	st        store.Store
	clk       clock.Clock
	log       *zap.Logger
	disp      *dispatch.Dispatcher
	due       *Due
	wake      <-chan struct{} // work created in this process
	storeWake <-chan struct{} // the store's wake-ups (nil when it has none)
	hooks     Hooks
	backlog   atomic.Bool // see Backlog
}

// Backlog reports whether ready work may be waiting that this loop has not
// claimed: its last claim took all it asked for, or it had no room to ask.
// It is true until the first claim has looked. Eager dispatch at start
// holds back while it is, so new tasks do not jump ahead of older ones.
func (l *Loop) Backlog() bool { return l.backlog.Load() }

// New returns a claim loop. wake signals in-process work; due holds the
// due times this process knows of.
func New(cfg Config, st store.Store, clk clock.Clock, log *zap.Logger, disp *dispatch.Dispatcher, due *Due, wake <-chan struct{}, hooks Hooks) *Loop {
	l := &Loop{cfg: cfg, st: st, clk: clk, log: log, disp: disp, due: due, wake: wake, hooks: hooks}
	l.backlog.Store(true)
	if w, ok := st.(interface{ Wakeups() <-chan struct{} }); ok {
		l.storeWake = w.Wakeups()
	}
	return l
}

// heldUntil is implemented by stores whose claims hold steps back for a
// rate limit's token: it says when the next token is due, without I/O.
type heldUntil interface{ HeldUntil() (time.Time, bool) }

// minWait keeps a due time that the store does not yet see as ready (its
// clock a little behind, a rescue that found nothing) from spinning.
const minWait = time.Millisecond

// Run claims until stop is closed or ctx ends.
func (l *Loop) Run(ctx context.Context, stop <-chan struct{}) {
	x := l.cfg
	// backlog: the last look found more ready work than there was room
	// for, so a freed slot is worth a claim. Otherwise a freed slot alone
	// does not claim (the step's dependants become ready only when its
	// completion commits, and that commit claims them or wakes us).
	backlog, look := false, true
	rescueAt := time.Time{} // a lease expiry the store reported as due
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		idle := false
		before := l.clk.Now() // due times up to here are covered by this claim
		if look {
			running, free := l.disp.Running(), l.disp.Free()
			size := x.BatchSize
			if x.Batch != nil {
				size = min(size, x.Batch())
			}
			// Claim when a useful batch fits, or when nothing runs at all.
			// "Useful" is a quarter of the limit now, not of the configured
			// maximum: a tuned limit below a quarter of MaxConcurrency would
			// otherwise claim only once everything had finished.
			if free > 0 && (free >= max(1, min(size, l.disp.Max())/4) || running == 0) {
				claimed, n := l.claim(ctx, size)
				idle = claimed == 0
				backlog = n > 0 && claimed == n
				l.backlog.Store(backlog)
				if backlog {
					continue // there may be more ready right now
				}
			} else {
				backlog = true // ready work may be waiting for room
				l.backlog.Store(true)
			}
		}
		now := l.clk.Now()
		wait := x.PollInterval
		// The due times up to before are covered only if this pass looked;
		// one woken by a freed slot alone (look false) drops none, or a
		// due time whose timer lost its race to that slot would wait for
		// the poll interval.
		covered := time.Time{}
		if look {
			covered = before
		}
		if next, ok := l.due.Next(covered); ok {
			if !next.After(now) {
				look = true
				continue // it fell due during the claim, or while no claim looked: claim now
			}
			wait = min(wait, next.Sub(now))
		}
		if h, ok := l.st.(heldUntil); ok {
			if at, ok := h.HeldUntil(); ok { // a rate limit's next token
				wait = min(wait, at.Sub(now))
			}
		}
		if idle {
			if !rescueAt.IsZero() && !rescueAt.After(now) && l.hooks.Rescue != nil {
				// The earliest due time was a lease expiry and nothing
				// was claimable: rescue now rather than at the next
				// maintenance pass.
				rescueAt = time.Time{}
				if l.hooks.Rescue(ctx) > 0 {
					continue
				}
			}
			if next, ok, err := l.st.NextWakeup(ctx); err == nil && ok {
				if d := next.Sub(now); d < wait {
					wait = d
					rescueAt = next
				}
			}
		}
		wait = max(wait, minWait)
		timer := l.clk.After(wait)
		look = true
		if l.clk.Now().Sub(now) >= wait {
			// The clock passed the wait while it was computed (a fake
			// clock's Advance between Now and After would otherwise leave
			// the timer one wait too late).
			continue
		}
		select {
		case <-stop:
		case <-ctx.Done():
		case <-l.wake:
		case <-l.due.Changed():
		case <-l.disp.Freed():
			look = backlog
		case <-l.storeWake:
		case <-timer:
		}
	}
}

// claim claims one batch for the room there is; it returns how many steps
// it claimed and how many it asked for.
func (l *Loop) claim(ctx context.Context, size int) (claimed, asked int) {
	n := l.disp.Reserve(min(l.disp.Free(), size))
	if n == 0 {
		return 0, 0
	}
	p := &store.ClaimStepsParams{Owner: l.cfg.Owner, Limit: n, LeaseTTL: l.cfg.LeaseTTL, Queues: l.cfg.Queues, Grouped: true, Now: l.clk.StoreNow()}
	if l.cfg.Handlers != nil {
		if p.Handlers = l.cfg.Handlers(); len(p.Handlers) == 0 {
			l.disp.Settle(n, nil) // serving nothing: claim nothing
			return 0, n
		}
	}
	p.ByReadyTime = l.cfg.ByReadyTime != nil && l.cfg.ByReadyTime()
	t0 := time.Now()
	steps, err := l.st.ClaimSteps(ctx, p)
	if l.hooks.Batch != nil {
		l.hooks.Batch(size, len(steps), time.Since(t0), err != nil)
	}
	if l.hooks.Transaction != nil {
		l.hooks.Transaction()
	}
	if err != nil && ctx.Err() == nil {
		l.log.Warn("claiming steps failed; retrying after the poll interval", zap.Error(err))
	}
	if l.hooks.Claimed != nil {
		l.hooks.Claimed(len(steps))
	}
	l.disp.Settle(n, steps)
	return len(steps), n
}
