package schedule

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSpecNext(t *testing.T) {
	for _, c := range []struct {
		spec, tz, after, want string
	}{
		{"@every 1s", "", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"},
		{"@every 1s", "", "2026-01-01T00:00:00.5Z", "2026-01-01T00:00:01Z"},
		{"@every 1h", "", "2026-01-01T10:20:00Z", "2026-01-01T11:00:00Z"}, // anchored at the epoch: on the hour
		{"@every 90s", "", "1970-01-01T00:00:00Z", "1970-01-01T00:01:30Z"},
		{"*/15 * * * *", "", "2026-01-01T10:07:00Z", "2026-01-01T10:15:00Z"},          // five fields: minutes
		{"30 */15 * * * *", "", "2026-01-01T10:07:00Z", "2026-01-01T10:15:30Z"},       // six: seconds first
		{"0 3 * * *", "Europe/Paris", "2026-07-01T00:00:00Z", "2026-07-01T01:00:00Z"}, // 03:00 CEST
		{"CRON_TZ=America/New_York 0 9 * * *", "", "2026-01-05T00:00:00Z", "2026-01-05T14:00:00Z"},
		{"@daily", "", "2026-01-05T12:00:00Z", "2026-01-06T00:00:00Z"}, // UTC, not the machine's zone
		// The spring-forward day in Paris: 02:30 does not exist that night.
		{"30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z"},
		// Day of month and day of week both restricted: either matching
		// fires, as in cron (documented on Engine.Schedule): Monday 2
		// February, not 29 February only.
		{"0 0 29 2 1", "", "2026-01-01T00:00:00Z", "2026-02-02T00:00:00Z"},
		{"0 0 13 * 5", "", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"}, // Friday 2, not Friday 13
	} {
		s, err := Parse(c.spec, c.tz)
		if err != nil {
			t.Fatalf("Parse(%q, %q): %v", c.spec, c.tz, err)
		}
		got := s.Next(mustTime(t, c.after))
		if want := mustTime(t, c.want); !got.Equal(want) {
			t.Errorf("%q in %q after %s: %s, want %s", c.spec, c.tz, c.after, got.UTC(), want)
		}
		at := mustTime(t, c.want)
		if got := s.NextAtOrAfter(at); !got.Equal(at) {
			t.Errorf("%q: NextAtOrAfter(%s) = %s, want the tick itself", c.spec, at, got)
		}
	}
}

func TestSpecRefused(t *testing.T) {
	for _, c := range []struct{ spec, tz, msg string }{
		{"", "", "spec"},
		{"* * *", "", "expected"},
		{"61 * * * *", "", "61"},
		{"@every 1.5s", "", "whole number of seconds"},
		{"@every 500ms", "", "at least 1s"},
		{"@every soon", "", "soon"},
		{"0 3 * * *", "Mars/Olympus", "Mars/Olympus"},
		{"CRON_TZ=UTC 0 3 * * *", "Europe/Paris", "give one"},
	} {
		_, err := Parse(c.spec, c.tz)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Parse(%q, %q) = %v, want an error mentioning %q", c.spec, c.tz, err, c.msg)
		}
	}
}

// A refused cron spec is quoted as the caller wrote it: the zone prefix
// Parse adds for robfig/cron ("CRON_TZ=UTC ") is not part of it, and
// quoting it made "0 3 * * 8" read as a spec the caller never gave.
func TestSpecRefusedQuotesSpecAsWritten(t *testing.T) {
	for _, c := range []struct{ spec, tz, want string }{
		{"0 3 * * 8", "", `spec "0 3 * * 8": `},
		{"@daly", "", `spec "@daly": `},
		{" 61 * * * *", "Europe/Paris", `spec "61 * * * *" (in Europe/Paris): `},
		{"CRON_TZ=Europe/Paris 0 3 * * 8", "", `spec "CRON_TZ=Europe/Paris 0 3 * * 8": `},
	} {
		_, err := Parse(c.spec, c.tz)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "CRON_TZ=UTC") {
			t.Errorf("Parse(%q, %q) = %v, want an error beginning %q", c.spec, c.tz, err, c.want)
		}
	}
}

func TestJitterAndKeys(t *testing.T) {
	tick := mustTime(t, "2026-01-01T00:00:05Z")
	a, b := Jitter("s", tick, time.Minute), Jitter("s", tick, time.Minute)
	if a != b || a < 0 || a >= time.Minute {
		t.Fatalf("jitter %s then %s: want the same value in [0, 1m)", a, b)
	}
	spread := map[time.Duration]bool{}
	for i := range 20 {
		spread[Jitter("s", tick.Add(time.Duration(i)*time.Second), time.Minute)] = true
	}
	if len(spread) < 10 {
		t.Fatalf("20 ticks got %d distinct jitters: not spread", len(spread))
	}
	if Jitter("s", tick, 0) != 0 {
		t.Fatal("jitter without a maximum")
	}
	if Key("s", tick) == Key("s", tick.Add(time.Second)) || Key("s", tick) != Key("s", tick.In(time.FixedZone("x", 3600))) {
		t.Fatal("a tick's key must depend on its instant only")
	}
}

// A spec whose next tick is more than five years away still has one:
// robfig/cron gives up after five years and answered the zero time, so
// "0 0 29 2 *" after 29 February 2096 (2100 is no leap year: the next is
// in 2104) read as "never fires", and a schedule stopped for good. A spec
// no date matches still answers the zero time.
func TestSpecNextPastFiveYears(t *testing.T) {
	for _, c := range []struct{ spec, tz, after, want string }{
		{"0 0 29 2 *", "", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"},
		{"0 0 29 2 *", "", "2096-02-29T00:00:00Z", "2104-02-29T00:00:00Z"},
		{"30 0 0 29 2 *", "", "2099-12-31T23:59:59Z", "2104-02-29T00:00:30Z"},
		{"0 3 29 2 *", "Europe/Paris", "2097-06-01T00:00:00Z", "2104-02-29T02:00:00Z"},
		{"0 0 29 2 *", "", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"0 0 30 2 *", "", "2026-01-01T00:00:00Z", ""},
		{"0 0 31 4,6,9,11 *", "", "2026-01-01T00:00:00Z", ""},
	} {
		s, err := Parse(c.spec, c.tz)
		if err != nil {
			t.Fatalf("Parse(%q, %q): %v", c.spec, c.tz, err)
		}
		got := s.Next(mustTime(t, c.after))
		if c.want == "" {
			if !got.IsZero() {
				t.Errorf("%q after %s: %s, want the zero time (it never fires)", c.spec, c.after, got)
			}
			continue
		}
		if want := mustTime(t, c.want); !got.Equal(want) {
			t.Errorf("%q in %q after %s: %s, want %s", c.spec, c.tz, c.after, got.UTC(), want)
		}
	}
}

// A step past its field's range leaves one value of the field: "*/90" in
// the minute field fires at minute 0 alone, hourly, though it reads as
// every 90 minutes (a step does not carry over into the next hour). Such
// a spec is refused, naming the field, where it is defined; steps that
// leave two values or more, and names (MON-FRI/2), are left alone.
func TestCheckFields(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"*/90 * * * *", `spec "*/90 * * * *": the minute field's "*/90" matches minute 0 alone: its step 90 goes past 0-59, and a step does not carry over`},
		{"0 */25 * * *", `the hour field's "*/25" matches hour 0 alone`},
		{"5/60 * * * * *", `the second field's "5/60" matches second 5 alone`},
		{"0 0 1-10/20 * *", `the day of month field's "1-10/20" matches day of month 1 alone`},
		{"0 0 * 1,2/12 *", `the month field's "2/12" matches month 2 alone`},
		{"0 0 * * */7", `the day of week field's "*/7" matches day of week 0 alone`},
		{"CRON_TZ=Europe/Paris 0 */24 * * *", `the hour field's "*/24"`},
		// An interval with a sign reads as another text than the one
		// meant, as a configured duration with one does.
		{"@every +5m", `spec "@every +5m": the interval "+5m" has a sign: write "@every 5m"`},
		{" @every   +90s ", `spec "@every   +90s": the interval "+90s" has a sign: write "@every 90s"`},
		// A zone prefix naming no zone: time.LoadLocation("") is UTC, so
		// it was taken, and the spec ran in UTC as if the prefix were not
		// there.
		{"CRON_TZ= 0 3 * * *", `spec "CRON_TZ= 0 3 * * *": its CRON_TZ= prefix names no time zone`},
		{"TZ= 0 3 * * *", `spec "TZ= 0 3 * * *": its TZ= prefix names no time zone`},
	} {
		err := CheckFields(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckFields(%q) = %v, want an error containing %q", c.spec, err, c.want)
		}
	}
	for _, spec := range []string{"*/15 * * * *", "*/59 * * * *", "0 */12 * * *", "0 0 */2 * *", "0 0 * * MON-FRI/2", "0 0 * JAN/6 *", "30 */30 * * * *", "@daily", "@every 90m", "CRON_TZ=UTC 0 3 * * *", "0 3 * * *"} {
		if err := CheckFields(spec); err != nil {
			t.Errorf("CheckFields(%q) = %v, want nil", spec, err)
		}
	}
}

// ShortGap finds two successive ticks closer than d: a cron spec's gaps
// vary ("0 9,10 * * *": 1h, then 23h), and a Jitter past the shortest
// starts a tick's run after the next tick's. A gap of d exactly is none.
func TestShortGap(t *testing.T) {
	after := mustTime(t, "2026-01-01T12:00:00Z")
	for _, c := range []struct {
		spec string
		d    time.Duration
		a, b string // "" for none
	}{
		{"0 9,10 * * *", 2 * time.Hour, "2026-01-02T09:00:00Z", "2026-01-02T10:00:00Z"},
		{"0 9,10 * * *", time.Hour, "", ""},
		{"5,55 * * * *", 11 * time.Minute, "2026-01-01T12:55:00Z", "2026-01-01T13:05:00Z"},
		{"0 0 1,31 * *", 48 * time.Hour, "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"},
		{"0 3 * * 1-5", 24 * time.Hour, "", ""},
		{"0 3 * * 1-5", 25 * time.Hour, "2026-01-05T03:00:00Z", "2026-01-06T03:00:00Z"},
		{"* * * * * *", time.Second, "", ""},
		{"0 0 29 2 *", 24 * time.Hour, "", ""},
		{"0 0 30 2 *", time.Hour, "", ""},
	} {
		s, err := Parse(c.spec, "")
		if err != nil {
			t.Fatal(err)
		}
		a, b, ok := s.ShortGap(after, c.d)
		if c.a == "" {
			if ok {
				t.Errorf("%q under %s: %s and %s, want none", c.spec, c.d, a, b)
			}
			continue
		}
		if !ok || !a.Equal(mustTime(t, c.a)) || !b.Equal(mustTime(t, c.b)) {
			t.Errorf("%q under %s: %s and %s (%v), want %s and %s", c.spec, c.d, a, b, ok, c.a, c.b)
		}
	}
}

// A list with an empty item ("9," or "1,,2") is read by robfig/cron as the
// items it has: "0 9, * * *" fires at 09:00 alone, the hour that was to
// follow the comma lost without a word. Refused, naming the field.
func TestCheckFieldsRefusesAnEmptyListItem(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"0 9, * * *", `spec "0 9, * * *": the hour field "9," has an empty item (a comma too many, or a value missing)`},
		{"1,,2 * * * *", `the minute field "1,,2" has an empty item`},
		{"0 0 * * ,MON", `the day of week field ",MON" has an empty item`},
		{"0 ,5 0 * * *", `the minute field ",5" has an empty item`},
	} {
		if _, err := Parse(c.spec, ""); err != nil {
			t.Fatalf("Parse(%q): %v (robfig/cron took it)", c.spec, err)
		}
		if err := CheckFields(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckFields(%q) = %v, want an error containing %q", c.spec, err, c.want)
		}
	}
}

// Canonical is a spec as Parse reads it: a spec written with other spaces
// ticks as its canonical form does.
func TestCanonicalTicksAsWritten(t *testing.T) {
	after := mustTime(t, "2026-01-05T12:34:56Z")
	for _, c := range []struct{ spec, want string }{
		{" @every 1m\t", "@every 1m"},
		{"@every   90s", "@every 90s"},
		{"0  3 * *\t*", "0 3 * * *"},
		{"30\t*/15 * * * * ", "30 */15 * * * *"},
		{"CRON_TZ=America/New_York  0 9 * * *", "CRON_TZ=America/New_York 0 9 * * *"},
		{" @daily ", "@daily"},
	} {
		if got := Canonical(c.spec); got != c.want {
			t.Errorf("Canonical(%q) = %q, want %q", c.spec, got, c.want)
		}
		written, err := Parse(c.spec, "")
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.spec, err)
		}
		canon, err := Parse(c.want, "")
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.want, err)
		}
		if a, b := written.Next(after), canon.Next(after); !a.Equal(b) {
			t.Errorf("%q ticks at %s, its canonical form %q at %s", c.spec, a, c.want, b)
		}
	}
}

// A time of day the clocks pass twice (the hour a fall-back transition
// repeats) fires once, at its first passing: "30 1 * * *" in New York
// fired at 01:30 EDT and again at 01:30 EST on 1 November 2026, a daily
// run started twice. A spec whose minute or hour field is * goes by the
// real clock, as in cron: "0 * * * *" fires every real hour through the
// repeated one, "* 1 * * *" every minute of both passings.
func TestSpecFiresARepeatedTimeOnce(t *testing.T) {
	for _, c := range []struct {
		spec, tz, after string
		want            []string
	}{
		{"30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", []string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"0,30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", []string{"2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:00:00Z"}},
		{"CRON_TZ=Europe/Paris 15 2 * * *", "", "2026-10-24T12:00:00Z", []string{"2026-10-25T00:15:00Z", "2026-10-26T01:15:00Z"}},
		{"0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", []string{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"}},
		{"*/30 * * * *", "America/New_York", "2026-11-01T05:15:00Z", []string{"2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z"}},
		{"59 * 1 11 *", "America/New_York", "2026-11-01T05:30:00Z", []string{"2026-11-01T05:59:00Z", "2026-11-01T06:59:00Z"}},
	} {
		s, err := Parse(c.spec, c.tz)
		if err != nil {
			t.Fatalf("Parse(%q, %q): %v", c.spec, c.tz, err)
		}
		at := mustTime(t, c.after)
		for _, w := range c.want {
			at = s.Next(at)
			if want := mustTime(t, w); !at.Equal(want) {
				t.Errorf("%q in %q: tick %s, want %s", c.spec, c.tz, at.UTC().Format(time.RFC3339), w)
				break
			}
		}
	}
}
