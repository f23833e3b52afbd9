package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Spec is a parsed schedule spec.
type Spec struct {
	cron  cron.Schedule // nil for an interval
	every time.Duration // an interval, anchored at the Unix epoch
	loc   *time.Location
}

// parser reads five fields (minute first) or six (seconds first), and the
// descriptors (@daily, @hourly …); CRON_TZ= / TZ= prefixes name a zone.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse reads spec in the time zone tz ("" for UTC). "@every <duration>"
// is a fixed interval of at least a second, anchored at the Unix epoch so
// that every process computes the same ticks (@every 1h fires on the
// hour); anything else is a cron expression. A CRON_TZ= prefix and a
// non-empty tz may not both be given.
func Parse(spec, tz string) (Spec, error) {
	spec = strings.TrimSpace(spec)
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return Spec{}, fmt.Errorf("time zone %q: %w", tz, err)
		}
		loc = l
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		every, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return Spec{}, fmt.Errorf("spec %q: %w", spec, err)
		}
		if every < time.Second || every%time.Second != 0 {
			return Spec{}, fmt.Errorf("spec %q: the interval must be a whole number of seconds, at least 1s", spec)
		}
		return Spec{every: every, loc: loc}, nil
	}
	zoned := Zoned(spec)
	if zoned && !strings.Contains(spec, " ") {
		// robfig/cron cuts the zone at the first space, and without one
		// it panicked (slicing at -1).
		return Spec{}, fmt.Errorf("spec %q: no spec after the time zone (write CRON_TZ=Europe/Paris 0 3 * * *, a space between them)", spec)
	}
	if zoned && tz != "" {
		return Spec{}, fmt.Errorf("spec %q: it names a time zone and the Location option names %q: give one", spec, tz)
	}
	written := spec // an error quotes the spec as the caller wrote it
	if !zoned {
		// Without a prefix robfig/cron uses time.Local, which differs
		// from machine to machine: name the zone.
		spec = "CRON_TZ=" + loc.String() + " " + spec
	}
	s, err := parser.Parse(spec)
	if err != nil {
		if tz != "" {
			return Spec{}, fmt.Errorf("spec %q (in %s): %w", written, tz, err)
		}
		return Spec{}, fmt.Errorf("spec %q: %w", written, err)
	}
	if ss, ok := s.(*cron.SpecSchedule); ok {
		loc = ss.Location
	}
	return Spec{cron: s, loc: loc}, nil
}

// Canonical is spec as Parse reads it: trimmed, its fields one space apart
// (robfig/cron splits them at any run of white space). For a spec Parse
// takes, Parse(Canonical(spec)) ticks as Parse(spec) does; Engine.Schedule
// stores it, so that " @every 1m" and "@every 1m" are one definition.
func Canonical(spec string) string { return strings.Join(strings.Fields(spec), " ") }

// fields are a cron spec's fields, seconds first, with their ranges.
var fields = []struct {
	name   string
	lo, hi int
}{{"second", 0, 59}, {"minute", 0, 59}, {"hour", 0, 23}, {"day of month", 1, 31}, {"month", 1, 12}, {"day of week", 0, 6}}

// CheckFields refuses the specs Parse takes that read otherwise than they
// fire. A step past its field's range leaves one value of the field:
// "*/90 * * * *" fires at minute 0 alone, hourly, where the writer meant
// every 90 minutes (a step does not carry over into the next hour). A
// list's empty item is dropped: "0 9, * * *" fires at 09:00 alone. An
// interval with a sign, "@every +5m", is refused as a configured duration
// with one is (time.ParseDuration reads it as 5m). Engine.Schedule calls
// it on a new definition; Parse does not, so that a schedule stored before
// goes on firing. A zone prefix naming no zone ("CRON_TZ= 0 3 * * *",
// which Parse reads as UTC) is refused too. A spec Parse refuses, and a
// range given by names (MON-FRI/2), are not its to report.
func CheckFields(spec string) error {
	written := strings.TrimSpace(spec)
	spec = written
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		if d = strings.TrimSpace(d); d != "" && (d[0] == '+' || d[0] == '-') {
			return fmt.Errorf("spec %q: the interval %q has a sign: write %q", written, d, "@every "+d[1:])
		}
		return nil
	}
	if Zoned(spec) {
		var zone string
		zone, spec, _ = strings.Cut(spec, " ")
		if prefix, name, _ := strings.Cut(zone, "="); name == "" {
			// time.LoadLocation("") is UTC: the spec ran in UTC as if the
			// prefix were not there.
			return fmt.Errorf("spec %q: its %s= prefix names no time zone: name one (CRON_TZ=Europe/Paris), or leave the prefix out for UTC", written, prefix)
		}
	}
	list := strings.Fields(spec)
	if strings.HasPrefix(spec, "@") || len(list) < 5 || len(list) > 6 {
		return nil
	}
	bounds := fields[6-len(list):] // five fields: minutes first
	for i, f := range list {
		b := bounds[i]
		if strings.HasPrefix(f, ",") || strings.HasSuffix(f, ",") || strings.Contains(f, ",,") {
			return fmt.Errorf("spec %q: the %s field %q has an empty item (a comma too many, or a value missing)", written, b.name, f)
		}
		for part := range strings.SplitSeq(f, ",") {
			rng, step, ok := strings.Cut(part, "/")
			n, err := strconv.Atoi(step)
			if !ok || err != nil || n < 1 {
				continue
			}
			lo, hi := b.lo, b.hi
			if rng != "*" && rng != "?" {
				from, to, isRange := strings.Cut(rng, "-")
				if lo, err = strconv.Atoi(from); err != nil {
					continue
				}
				if isRange {
					if hi, err = strconv.Atoi(to); err != nil {
						continue
					}
				}
			}
			if lo+n > hi {
				return fmt.Errorf("spec %q: the %s field's %q matches %s %d alone: its step %d goes past %d-%d, and a step does not carry over (for a fixed interval, write @every and a duration)",
					written, b.name, part, b.name, lo, n, lo, hi)
			}
		}
	}
	return nil
}

// ZonedInterval reports whether spec is an "@every" interval behind a
// CRON_TZ= or TZ= prefix, and returns it without the prefix. Parse hands
// such a spec to robfig/cron, whose interval counts from when it is
// computed, not from the Unix epoch; Engine.Schedule refuses it.
func ZonedInterval(spec string) (string, bool) {
	spec = strings.TrimSpace(spec)
	if !strings.HasPrefix(spec, "CRON_TZ=") && !strings.HasPrefix(spec, "TZ=") {
		return "", false
	}
	_, rest, _ := strings.Cut(spec, " ") // as robfig/cron cuts the zone off
	rest = strings.TrimSpace(rest)
	return rest, strings.HasPrefix(rest, "@every ")
}

// Interval returns the spacing of an "@every" spec's ticks; ok is false
// for a cron spec, whose spacing may vary.
func (s Spec) Interval() (every time.Duration, ok bool) { return s.every, s.cron == nil }

// Location is the time zone of the spec's ticks.
func (s Spec) Location() *time.Location { return s.loc }

// searchYears bounds how far ahead Next looks for a cron spec's tick.
// A spec that fires at all fires within eight years (29 February, across
// a century that is no leap year); past this it is taken to fire never.
const searchYears = 100

// Next returns the first tick strictly after t (the zero time when the
// spec never fires again, as "0 0 30 2 *" does).
func (s Spec) Next(t time.Time) time.Time {
	if s.cron == nil {
		return time.Unix(0, 0).Add((t.Sub(time.Unix(0, 0))/s.every + 1) * s.every).In(s.loc)
	}
	// robfig/cron gives up five years on (to the end of t's year + 5)
	// and answers the zero time: "0 0 29 2 *" after 29 February 2096
	// fires next in 2104. Search again from five years on, window after
	// window: each starts within the one before, so no tick is skipped.
	for from := t; from.Before(t.AddDate(searchYears, 0, 0)); from = from.AddDate(5, 0, 0) {
		next := s.cron.Next(from)
		for !next.IsZero() && s.fixedTime() && repeated(next.In(s.loc)) {
			// The second passing of a time of day the clocks went back
			// over: it fired at the first (a daily run would start twice).
			next = s.cron.Next(next)
		}
		if !next.IsZero() {
			return next
		}
	}
	return time.Time{}
}

// starBit marks a robfig/cron field written * (every value).
const starBit = 1 << 63

// fixedTime reports whether a cron spec names its times of day, neither
// its minute nor its hour field being *: as in cron, such a spec fires a
// time of day the clocks pass twice once, where one with * goes by the
// real clock (every real hour, or minute, through the repeated hour).
func (s Spec) fixedTime() bool {
	ss, ok := s.cron.(*cron.SpecSchedule)
	return ok && ss.Minute&starBit == 0 && ss.Hour&starBit == 0
}

// repeated reports whether t's wall-clock time came before, in the zone
// before the last transition: t lies in the time a fall-back transition
// repeats, after the clocks went back.
func repeated(t time.Time) bool {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, off := t.Zone()
	_, before := start.Add(-time.Nanosecond).Zone()
	back := time.Duration(before-off) * time.Second
	return back > 0 && t.Sub(start) < back
}

// gapTicks and gapYears bound ShortGap's look ahead: a cron spec's ticks
// repeat their pattern by the day, the week, the month or the year, and a
// denser spec's shortest gap comes within its first ticks.
const (
	gapTicks = 10_000
	gapYears = 1
)

// ShortGap returns two successive ticks after t less than d apart (the
// first such pair), looking over the next year and 10,000 ticks at most;
// ok is false when there are none. A cron spec's gaps vary ("0 9,10 * * *":
// 1h, then 23h): Engine.Schedule holds Jitter to the shortest.
func (s Spec) ShortGap(t time.Time, d time.Duration) (a, b time.Time, ok bool) {
	end := t.AddDate(gapYears, 0, 0)
	a = s.Next(t)
	for range gapTicks {
		if a.IsZero() || a.After(end) {
			break
		}
		b = s.Next(a)
		if b.IsZero() {
			break
		}
		if b.Sub(a) < d {
			return a, b, true
		}
		a = b
	}
	return time.Time{}, time.Time{}, false
}

// lastAtOrBefore returns the last tick at now or before, from being one.
// A cron spec is searched back from now over a stretch that doubles until
// it holds a tick, then forward through it: not tick by tick from from,
// which may be a long backlog of ticks away.
func (s Spec) lastAtOrBefore(from, now time.Time) time.Time {
	if s.cron == nil {
		return s.Next(now).Add(-s.every)
	}
	last := from
	for d := time.Second; now.Add(-d).After(from); d *= 2 {
		if n := s.NextAtOrAfter(now.Add(-d)); !n.IsZero() && !n.After(now) {
			last = n
			break
		}
	}
	for n := s.Next(last); !n.IsZero() && !n.After(now); n = s.Next(n) {
		last = n
	}
	return last
}

// NextAtOrAfter returns the first tick at t or later.
func (s Spec) NextAtOrAfter(t time.Time) time.Time { return s.Next(t.Add(-time.Nanosecond)) }

// Zoned reports whether a cron spec names its own time zone (a CRON_TZ= or
// TZ= prefix).
func Zoned(spec string) bool {
	spec = strings.TrimSpace(spec)
	return strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=")
}
