package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/tasker-go/tasker/engine/internal/schedule"
	"github.com/tasker-go/tasker/store"
)

// ErrInvalidSchedule: Schedule was given a bad id, spec or option.
var ErrInvalidSchedule = errors.New("tasker: invalid schedule")

// OverlapPolicy says what a tick does while the run its schedule started
// last has not finished (a code-first run that continued as new goes on
// in the run that continues it).
type OverlapPolicy string

// Overlap policies.
const (
	// OverlapSkip drops the tick (the default).
	OverlapSkip OverlapPolicy = schedule.Skip
	// OverlapBufferOne holds the tick until the run ends, then starts it;
	// one tick waits at most, later ones are dropped, and so is the one
	// waiting once it is older than ScheduleOptions.CatchUpWindow (a run
	// that outlasts the window: widen it to keep the tick).
	OverlapBufferOne OverlapPolicy = schedule.BufferOne
	// OverlapAllowAll starts a run on every tick.
	OverlapAllowAll OverlapPolicy = schedule.AllowAll
	// OverlapCancelPrevious cancels the running one and starts a new run.
	OverlapCancelPrevious OverlapPolicy = schedule.CancelPrevious
)

// DefaultCatchUpWindow is ScheduleOptions.CatchUpWindow when it is zero.
const DefaultCatchUpWindow = time.Hour

// ScheduleOptions adjust a schedule. The zero value is a schedule in UTC
// that skips ticks while its previous run is going and catches up on
// ticks missed within the last hour.
type ScheduleOptions struct {
	// Overlap applies when a tick comes while the previous run has not
	// finished (default OverlapSkip). Ticks caught up after a downtime
	// are taken in order as if each had come on time, so under
	// OverlapSkip a backlog starts one run.
	Overlap OverlapPolicy
	// CatchUpWindow: ticks missed while no process ran (or the schedule's
	// leader was changing) fire late if they are at most this old, and
	// are dropped otherwise; so is a tick OverlapBufferOne holds while
	// the previous run goes on, processes running or not. Default
	// DefaultCatchUpWindow; at least 1 s (a leader's pass comes a little
	// after the tick).
	CatchUpWindow time.Duration
	// Jitter delays each run by up to this much, by an amount fixed for
	// each tick (so thousands of schedules on the same minute spread out):
	// 0 (none) or at least a millisecond (a bare number is nanoseconds),
	// and at most the gap between ticks, so runs start in the order of
	// their ticks: an "@every" spec's interval, a cron spec's shortest gap
	// over its next year (10,000 ticks at most).
	Jitter time.Duration
	// Location is the time zone of a cron spec (default UTC; a spec may
	// name its own with a CRON_TZ= prefix instead, not beside a Location,
	// time.UTC included). It is stored by name
	// and loaded again by each leader: time.Local is refused, as is a
	// CRON_TZ=Local prefix (processes on different machines would
	// disagree on it), and so is a zone its name does not load (a
	// time.FixedZone: use time.LoadLocation). So is a Location with an
	// "@every" interval, whose ticks are the same moments in every zone
	// (and so is a CRON_TZ= or TZ= prefix before one).
	Location *time.Location
	// Paused creates the schedule paused. It applies only when the
	// schedule is created: pausing and resuming an existing one is the
	// operator's (PauseSchedule, ResumeSchedule), so a deploy that
	// declares its schedules again does not undo them.
	Paused bool
}

// ScheduleInfo is a schedule as Schedules reports it.
type ScheduleInfo struct {
	ID       string
	Workflow string
	Spec     string
	// Location is the time zone of the spec ("" for UTC or a spec that
	// names its own).
	Location string
	// Input is the runs' input as JSON; encoded by a Config.Codec this
	// engine does not have, it is the stored envelope.
	Input         json.RawMessage
	Overlap       OverlapPolicy
	CatchUpWindow time.Duration
	Jitter        time.Duration
	Paused        bool
	// NextFireAt is the next tick not yet handled: when it is in the
	// past, the schedule is catching up (or no process runs). Zero while
	// the schedule is paused: ResumeSchedule counts the next from then.
	NextFireAt time.Time
	// BufferedAt is a tick waiting for the previous run (OverlapBufferOne).
	BufferedAt time.Time
	// LastFireAt and LastTaskID are the tick and task of the latest run
	// started (zero: none yet, as after a redefinition to run another
	// workflow); once that run continued as new, and a tick found it so,
	// LastTaskID is the run that continues it.
	LastFireAt time.Time
	LastTaskID int64
	// LastError says why the latest firing failed ("" once one succeeds).
	LastError string
}

// Schedule starts workflow — a DAG template ("namespace/name", optionally
// "@version") or a code-first workflow registered here — with input on
// every tick of spec, in whichever process leads the schedules (on
// PostgreSQL, one of those running Run; on SQLite, the one), and returns
// the schedule. Every process that may lead must register the workflow.
//
// spec is a cron expression of five fields (minute hour day-of-month month
// day-of-week) or six (seconds first), a descriptor (@hourly, @daily,
// @weekly, @monthly, @yearly), or "@every <duration>": a fixed interval of
// whole seconds counted from the Unix epoch (so "@every 1h" fires on the
// hour in every process alike); a CRON_TZ= or TZ= prefix before it is
// refused. As in cron (robfig/cron reads it), a spec that restricts both
// day of month and day of week fires on a day that matches EITHER:
// "0 0 29 2 1" fires on 29 February and on every Monday in February, and
// "0 0 13 * 5" on every 13th and every Friday, not on Friday the 13th
// alone (for that, fire on Fridays and let the workflow check the date).
// In a zone with summer time, a time of day the clocks pass twice (when
// they go back) fires once, at its first passing, unless the spec's
// minute or hour field is * ("0 * * * *" fires every real hour, the
// repeated one included); a time they skip (when they go forward) does
// not fire that day.
//
// Each tick starts exactly one task: its identity is the schedule's id and
// the tick's time, so a tick fired twice — by a leader that died before it
// recorded its progress and the one that took over — is one task.
//
// The schedule is stored under id, its spec trimmed and its fields one
// space apart (ScheduleInfo.Spec), as it is read: " @every 1m" is
// "@every 1m". Calling Schedule again with the same definition changes
// nothing (declare schedules at every start-up); with a different one, it
// replaces the definition and its next tick is counted from now; a paused
// schedule stays paused. Redefined to run another
// workflow (not another version of the same), it has no last run yet: the
// overlap policy does not wait on, or cancel, the runs of the one before.
// Bad specs (a spec no date matches, such as "0 0 30 2 *", a step past its
// field's range, "*/90 * * * *", which fires hourly, a list with an
// empty item, "0 9, * * *", and an interval with a sign, "@every +5m",
// included),
// options, unknown workflows and inputs the workflow would refuse (for a
// code-first workflow, one not of its input type, nil included unless that
// type may be nil) are refused with nothing stored.
func (e *Engine) Schedule(ctx context.Context, id, spec, workflow string, input any, opts ScheduleOptions) (*ScheduleInfo, error) {
	def, err := e.scheduleDef(id, spec, workflow, input, opts)
	if err != nil {
		return nil, fmt.Errorf("scheduling %q: %w", id, err)
	}
	// Stored encoded as every payload is (Config.Codec); the info
	// returned and the comparison with the stored definition use the JSON.
	plain := def.Input
	if def.Input, err = e.encode(plain); err != nil {
		return nil, fmt.Errorf("scheduling %q: input: %w", id, err)
	}
	info := func(sc *store.Schedule) *ScheduleInfo {
		in := scheduleInfo(sc)
		in.Input = json.RawMessage(plain)
		return in
	}
	for {
		cur, err := e.st.GetSchedule(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			def.Paused = opts.Paused
			def.NextFireAt, def.CreatedAt = e.firstTick(def), e.clk.Now()
			err = e.st.CreateSchedule(ctx, def)
			if errors.Is(err, store.ErrConflict) {
				continue // created meanwhile: compare with it
			}
			if err != nil {
				return nil, fmt.Errorf("scheduling %q: %w", id, err)
			}
			e.sched.Wake()
			return info(def), nil
		case err != nil:
			return nil, fmt.Errorf("scheduling %q: %w", id, err)
		case e.sameDefinition(cur, def, plain):
			return info(cur), nil
		}
		next := *cur
		next.Workflow, next.Spec, next.Timezone, next.Input = def.Workflow, def.Spec, def.Timezone, def.Input
		next.Overlap, next.CatchUpWindow, next.Jitter = def.Overlap, def.CatchUpWindow, def.Jitter
		next.NextFireAt, next.BufferedAt, next.LastError, next.UpdatedAt = e.firstTick(def), nil, "", e.clk.Now()
		if unversioned(cur.Workflow) != unversioned(def.Workflow) {
			// Another workflow's run is not this one's previous run: the
			// overlap policy would wait on it, or cancel it.
			next.LastTaskID, next.LastFireAt = nil, nil
		}
		ok, err := e.st.UpdateSchedule(ctx, &next)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("scheduling %q: %w", id, err)
		}
		if ok {
			e.sched.Wake()
			return info(&next), nil
		}
	}
}

// unversioned is a schedule's workflow without its "@version": a new
// version of a template is the same workflow.
func unversioned(workflow string) string {
	name, _, _ := strings.Cut(workflow, "@")
	return name
}

// scheduleDef validates a schedule's definition and returns its row
// (without its times).
func (e *Engine) scheduleDef(id, spec, workflow string, input any, opts ScheduleOptions) (*store.Schedule, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if msg := checkName("id", id); msg != "" {
		bad("%s", msg)
	}
	tz := ""
	switch {
	case opts.Location == time.Local:
		bad("Location is time.Local, which differs from machine to machine: name the zone (time.LoadLocation)")
	case opts.Location != nil && strings.HasPrefix(strings.TrimSpace(spec), "@every "):
		bad("Location %s with spec %q: an interval counts from the Unix epoch and fires at the same moments in every zone, so Location would change nothing: leave it out", opts.Location, spec)
	case opts.Location == time.UTC && schedule.Zoned(spec):
		// UTC is the default, so it is not passed on to Parse, which
		// refuses a Location beside a zone prefix: refused here alike,
		// rather than the prefix winning without a word.
		bad("spec %q: it names a time zone and the Location option names %q: give one", strings.TrimSpace(spec), "UTC")
	case opts.Location != nil && opts.Location != time.UTC:
		tz = opts.Location.String()
		if !loadsAs(tz, opts.Location, e.clk.Now()) {
			bad("Location %q is not the zone of that name in the time zone database (a time.FixedZone?): a schedule stores its zone by name and each leader loads it again, so its ticks would come in another zone; load the zone with time.LoadLocation", tz)
		}
	}
	var interval time.Duration // of an @every spec; 0 for cron
	var cron *schedule.Spec    // a cron spec that parsed
	if every, ok := schedule.ZonedInterval(spec); ok {
		bad("spec %q: a time zone before an @every interval is refused: an interval counts from the Unix epoch and fires at the same moments in every zone (write %q)", spec, every)
	} else if sp, err := schedule.Parse(spec, tz); err != nil {
		bad("%w", err)
	} else if sp.Location() == time.Local {
		// robfig/cron loads a CRON_TZ=Local or TZ=Local prefix as time.Local.
		bad("spec %q names the zone Local, which differs from machine to machine: name the zone (CRON_TZ=Europe/Paris)", spec)
	} else if sp.Next(e.clk.Now()).IsZero() {
		bad("spec %q never fires: no date matches it", spec)
	} else if err := schedule.CheckFields(spec); err != nil {
		// "*/90" in the minutes fires hourly, "9," at 9 alone; refused
		// on a definition only: a stored schedule goes on as it was.
		bad("%w", err)
	} else if interval, _ = sp.Interval(); interval == 0 {
		cron = &sp
	}
	overlap := cmp.Or(opts.Overlap, OverlapSkip)
	if !slices.Contains(schedule.Policies, string(overlap)) {
		bad("unknown overlap policy %q (want one of %v)", opts.Overlap, schedule.Policies)
	}
	window := opts.CatchUpWindow
	switch {
	case window == 0:
		window = DefaultCatchUpWindow
	case window < time.Second:
		bad("CatchUpWindow %s: at least 1s (0 for the default, %s)", window, DefaultCatchUpWindow)
	}
	if opts.Jitter < 0 {
		bad("Jitter %s is negative", opts.Jitter)
	} else if err := underAMillisecond("Jitter", opts.Jitter); err != nil {
		bad("%w", err)
	} else if interval > 0 && opts.Jitter > interval {
		// A run is delayed by less than Jitter: up to the interval, each
		// tick's run still starts before the next tick's.
		bad("Jitter %s is longer than the interval of spec %q (%s): a tick's run could start after the next tick's; at most the interval", opts.Jitter, spec, interval)
	} else if cron != nil && opts.Jitter > 0 {
		// As an interval's: a cron spec's gaps vary, and the shortest
		// counts (its next year's).
		if a, b, ok := cron.ShortGap(e.clk.Now(), opts.Jitter); ok {
			bad("Jitter %s is longer than the gap between the ticks of spec %q at %s and %s (%s): a tick's run could start after the next tick's; at most the shortest gap",
				opts.Jitter, spec, a.Format(time.RFC3339), b.Format(time.RFC3339), b.Sub(a))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSchedule, err)
	}
	doc, err := e.scheduleInput(workflow, input)
	if err != nil {
		return nil, err
	}
	// Stored as it is read: written with other spaces, it is the same
	// definition (sameDefinition), whose next tick a redeploy keeps.
	return &store.Schedule{ID: id, Workflow: workflow, Spec: schedule.Canonical(spec), Timezone: tz, Input: doc,
		Overlap: string(overlap), CatchUpWindow: window, Jitter: opts.Jitter}, nil
}

// loadsAs reports whether loading the zone named tz gives loc's offsets
// over the year from now (a zone that does not load is Parse's to report).
func loadsAs(tz string, loc *time.Location, now time.Time) bool {
	loaded, err := time.LoadLocation(tz)
	if err != nil {
		return true
	}
	for q := range 4 { // a quarter apart: the summer time of either hemisphere
		t := now.AddDate(0, 3*q, 0)
		_, want := t.In(loc).Zone()
		if _, got := t.In(loaded).Zone(); got != want {
			return false
		}
	}
	return true
}

// scheduleInput checks that workflow is known here and would accept
// input, and returns the input as stored.
func (e *Engine) scheduleInput(workflow string, input any) (store.JSON, error) {
	if def, ok := e.workflowDef(workflow); ok {
		// nil only for an input that may be nil, as ContinueAsNew and
		// Child take it: stored as null, a string's runs would get "".
		if got := reflect.TypeOf(input); got == nil && !nilable(def.in) || got != nil && !got.AssignableTo(def.in) {
			return nil, fmt.Errorf("%w: workflow %s takes %s, not %v", ErrTypeMismatch, workflow, def.in, got)
		}
		doc, err := json.Marshal(input)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		var o startOptions
		if _, err := e.prepareWorkflowStart(workflow, json.RawMessage(doc), &o); err != nil {
			return nil, err
		}
		return doc, nil
	}
	var o startOptions
	if _, err := e.prepareStart(workflow, input, &o); err != nil { // the template's schema and the payload limit
		return nil, err
	}
	return normalizeInput(input) // as JSON: the runs' starts encode it
}

// firstTick is a new definition's first tick: the first after now.
func (e *Engine) firstTick(sc *store.Schedule) time.Time {
	spec, _ := schedule.Parse(sc.Spec, sc.Timezone) // validated
	return spec.Next(e.clk.Now())
}

// sameDefinition compares the stored schedule a with the definition b,
// whose input is the JSON input: the specs as read (a row stored before
// specs were stored canonical may hold one as written), a's input decoded
// (encoded afresh, b's differs; one this engine cannot decode, of another
// codec, is redefined under this one's).
func (e *Engine) sameDefinition(a, b *store.Schedule, input []byte) bool {
	in, err := e.decode(a.Input)
	return err == nil && string(in) == string(input) &&
		a.Workflow == b.Workflow && schedule.Canonical(a.Spec) == schedule.Canonical(b.Spec) && a.Timezone == b.Timezone &&
		a.Overlap == b.Overlap && a.CatchUpWindow == b.CatchUpWindow && a.Jitter == b.Jitter
}

func scheduleInfo(sc *store.Schedule) *ScheduleInfo {
	in := &ScheduleInfo{ID: sc.ID, Workflow: sc.Workflow, Spec: sc.Spec, Location: sc.Timezone, Input: json.RawMessage(sc.Input),
		Overlap: OverlapPolicy(sc.Overlap), CatchUpWindow: sc.CatchUpWindow, Jitter: sc.Jitter, Paused: sc.Paused,
		LastError: sc.LastError}
	if !sc.Paused { // a paused schedule's stored tick is not its next
		in.NextFireAt = sc.NextFireAt
	}
	if sc.BufferedAt != nil {
		in.BufferedAt = *sc.BufferedAt
	}
	if sc.LastFireAt != nil {
		in.LastFireAt = *sc.LastFireAt
	}
	if sc.LastTaskID != nil {
		in.LastTaskID = *sc.LastTaskID
	}
	return in
}
