package schedule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
)

// Leadership is the name of the schedules' leadership in the store.
const Leadership = "schedules"

// Config tunes the Runner.
type Config struct {
	Owner string
	// Interval is how often the Runner looks at the schedules when no
	// tick is due sooner, and how often a process that does not lead
	// asks to (the leadership lasts three intervals).
	Interval time.Duration
}

// Hooks are how the Runner acts on the engine.
type Hooks struct {
	// Start starts a run of the schedule's workflow with the identity
	// key, not before at (zero: at once), and returns its task: starting
	// with the same key again returns the same task.
	Start func(ctx context.Context, sc *store.Schedule, key string, at time.Time) (int64, error)
	// Running reports whether the run a task began has not finished,
	// and the task that carries it now: taskID, or the last of the runs
	// that continue it (ContinueAsNew).
	Running func(ctx context.Context, taskID int64) (current int64, running bool, err error)
	// Cancel cancels a task.
	Cancel func(ctx context.Context, taskID int64) error
}

// Runner fires due schedules while its process leads.
type Runner struct {
	cfg   Config
	st    store.Store
	clk   clock.Clock
	log   *zap.Logger
	hooks Hooks
	wake  chan struct{}
}

// NewRunner returns a Runner.
func NewRunner(cfg Config, st store.Store, clk clock.Clock, log *zap.Logger, hooks Hooks) *Runner {
	return &Runner{cfg: cfg, st: st, clk: clk, log: log, hooks: hooks, wake: make(chan struct{}, 1)}
}

// Wake makes Run look at the schedules now (one was created or changed
// here).
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run fires schedules until ctx ends: while this process leads (always
// on a single-writer store), a pass at every due tick and at least every
// Interval.
func (r *Runner) Run(ctx context.Context) {
	// unsure: the last election failed, and may have renewed the
	// leadership all the same (its reply lost): resigned too at the end,
	// or the others waited out its lease.
	leading, unsure := false, false
	defer func() {
		if (leading || unsure) && !r.st.Capabilities().SingleWriter {
			_ = r.st.Resign(context.WithoutCancel(ctx), Leadership, r.cfg.Owner)
		}
	}()
	for {
		lead := true
		if !r.st.Capabilities().SingleWriter {
			var err error
			lead, err = r.st.Elect(ctx, &store.ElectParams{Name: Leadership, Owner: r.cfg.Owner, TTL: 3 * r.cfg.Interval, Now: r.clk.StoreNow()})
			unsure = err != nil
			if err != nil && ctx.Err() == nil {
				r.log.Warn("schedules: election failed", zap.Error(err))
			}
			if lead != leading {
				r.log.Info("schedules leadership changed", zap.Bool("leader", lead))
			}
		}
		leading = lead
		wait := r.cfg.Interval
		if lead {
			next, err := r.Pass(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.Warn("schedules: pass failed", zap.Error(err))
			}
			if !next.IsZero() {
				wait = min(wait, max(next.Sub(r.clk.Now()), 0))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.clk.After(wait):
		case <-r.wake:
		}
	}
}

// Pass fires every due schedule once and returns the earliest tick still
// to come (zero: none), leaving out the schedules whose firing failed.
func (r *Runner) Pass(ctx context.Context) (time.Time, error) {
	list, err := r.st.ListSchedules(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := r.clk.Now()
	var earliest time.Time
	for _, sc := range list {
		if sc.Paused && sc.TriggerAt == nil {
			continue
		}
		recorded := sc.LastError
		next, err := r.one(ctx, sc, now)
		if err != nil {
			if ctx.Err() != nil {
				return time.Time{}, ctx.Err()
			}
			// A failure the schedule's LastError already told (Schedules
			// shows it) is not warned of again at every pass.
			level := zap.WarnLevel
			if recorded != "" && recorded == lastError(err) {
				level = zap.DebugLevel
			}
			r.log.Log(level, "schedule: firing failed", zap.String("schedule", sc.ID), zap.Error(err))
			// Its tick is still due: counted, Run would try it again at
			// once, and again, for as long as the cause lasts (a workflow
			// the leader does not register). The next Interval retries it.
			continue
		}
		if !next.IsZero() && (earliest.IsZero() || next.Before(earliest)) {
			earliest = next
		}
	}
	return earliest, nil
}

// one handles one schedule and returns its next tick.
func (r *Runner) one(ctx context.Context, sc *store.Schedule, now time.Time) (time.Time, error) {
	triggered, err := r.trigger(ctx, sc) // (it needs no tick, nor the spec)
	if err != nil || sc.Paused {
		if triggered {
			return time.Time{}, r.record(ctx, sc, now)
		}
		return time.Time{}, err
	}
	spec, err := Parse(sc.Spec, sc.Timezone)
	if err != nil {
		// A zone missing from this machine's time zone database: the
		// schedule cannot fire here, and Schedules says so.
		err = fmt.Errorf("reading its spec: %w", err)
		if triggered {
			sc.LastError = lastError(err)
			return time.Time{}, errors.Join(err, r.record(ctx, sc, now))
		}
		return time.Time{}, r.failed(ctx, sc, err)
	}
	st := State{Next: sc.NextFireAt}
	if sc.BufferedAt != nil {
		st.Buffered = *sc.BufferedAt
	}
	if !triggered && st.Next.After(now) && st.Buffered.IsZero() {
		return st.Next, nil
	}
	moved := false // the previous run continued as new: LastTaskID follows it
	if sc.LastTaskID != nil && sc.Overlap != AllowAll {
		cur, running, err := r.hooks.Running(ctx, *sc.LastTaskID)
		if err != nil {
			return st.Next, fmt.Errorf("reading the previous run (task %d): %w", *sc.LastTaskID, err)
		}
		st.Running = running
		if cur != *sc.LastTaskID {
			sc.LastTaskID, moved = &cur, true
		}
	}
	plan := Decide(spec, st, sc.Overlap, now.Add(-sc.CatchUpWindow), now)
	if !plan.Changed(st) {
		if triggered || moved {
			return st.Next, r.record(ctx, sc, now)
		}
		return st.Next, nil
	}
	if plan.Cancel {
		if err := r.hooks.Cancel(ctx, *sc.LastTaskID); err != nil {
			return st.Next, r.failed(ctx, sc, fmt.Errorf("cancelling the previous run (task %d): %w", *sc.LastTaskID, err))
		}
	}
	for _, tick := range plan.Start {
		id, err := r.hooks.Start(ctx, sc, Key(sc.ID, tick), tick.Add(Jitter(sc.ID, tick, sc.Jitter)))
		if err != nil {
			// Nothing moves: the next pass starts the same ticks again,
			// and those started already are found by their identity.
			return st.Next, r.failed(ctx, sc, fmt.Errorf("starting the run of %s: %w", tick.UTC().Format(time.RFC3339), err))
		}
		t := tick
		sc.LastTaskID, sc.LastFireAt = &id, &t
	}
	if plan.Dropped > 0 {
		r.log.Info("schedule: ticks dropped (catch-up window or overlap policy)", zap.String("schedule", sc.ID), zap.Int("dropped", plan.Dropped))
	}
	sc.BufferedAt, sc.LastError = nil, ""
	if !plan.Buffered.IsZero() {
		sc.BufferedAt = &plan.Buffered
	}
	if plan.Next.IsZero() {
		// The spec fires no more (a date that never comes): park it.
		sc.Paused, sc.LastError = true, "the spec fires no more"
	} else {
		sc.NextFireAt = plan.Next
	}
	return plan.Next, r.record(ctx, sc, now)
}

// trigger starts the run asked for by hand, if any (overlap policy aside),
// and reports whether the schedule changed. A run that cannot start is
// not retried: the request is dropped and the error recorded.
func (r *Runner) trigger(ctx context.Context, sc *store.Schedule) (bool, error) {
	if sc.TriggerAt == nil {
		return false, nil
	}
	at := *sc.TriggerAt
	sc.TriggerAt = nil
	id, err := r.hooks.Start(ctx, sc, TriggerKey(sc.ID, at), time.Time{})
	if err != nil {
		if ctx.Err() != nil {
			return false, err
		}
		sc.LastError = lastError(fmt.Errorf("starting the run triggered at %s: %w", at.UTC().Format(time.RFC3339), err))
		return true, err
	}
	sc.LastTaskID, sc.LastFireAt, sc.LastError = &id, &at, ""
	return true, nil
}

// record writes the schedule's new state (compare and set).
func (r *Runner) record(ctx context.Context, sc *store.Schedule, now time.Time) error {
	sc.UpdatedAt = now
	if _, err := r.st.UpdateSchedule(ctx, sc); err != nil && !errors.Is(err, store.ErrNotFound) {
		// Lost to a change made meanwhile (paused, deleted, redefined):
		// the runs started stand, the next pass reads the new state.
		return fmt.Errorf("recording schedule %q: %w", sc.ID, err)
	}
	return nil
}

// failed records why a firing failed on the schedule (for List).
func (r *Runner) failed(ctx context.Context, sc *store.Schedule, err error) error {
	if msg := lastError(err); sc.LastError != msg {
		sc.LastError = msg
		if _, uerr := r.st.UpdateSchedule(ctx, sc); uerr != nil && !errors.Is(uerr, store.ErrNotFound) {
			return errors.Join(err, uerr)
		}
	}
	return err
}

// lastError is err as the schedule's LastError: within the store's limit,
// and a name the store takes (a NUL byte or invalid UTF-8 in the message,
// from a workflow's input say, would have the update refused).
func lastError(err error) string {
	msg := strings.ToValidUTF8(strings.ReplaceAll(err.Error(), "\x00", "\uFFFD"), "\uFFFD")
	if len(msg) > store.MaxNameLen {
		msg = strings.ToValidUTF8(msg[:store.MaxNameLen], "")
	}
	return msg
}
