package engine

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ParseRetention reads a retention as a YAML template's key retention and
// the CLI's configuration (execution.retention) write it: a Go duration of
// at least a millisecond ("72h"), whole days ("30d") or "forever"
// (KeepForever). A sign is refused ("+7d": write "7d"), as the
// configuration refuses it on any duration; a negative one is refused as
// under 1ms.
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "forever" {
		return KeepForever, nil
	}
	if rest, ok := strings.CutPrefix(s, "+"); ok {
		// strconv.Atoi and time.ParseDuration both read +7d as 7d.
		return 0, fmt.Errorf("retention %q has a sign: write %q", s, rest)
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 100*365 {
			return 0, fmt.Errorf("retention %q: days must be a whole number from 1 to 36500", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if durationSyntax.MatchString(s) { // well formed: it overflowed
			return 0, fmt.Errorf("retention %q is longer than the longest duration, %s (292 years): write forever to keep the tasks for ever", s, time.Duration(math.MaxInt64))
		}
		return 0, fmt.Errorf("retention %q: not a duration (72h), days (30d) or forever", s)
	}
	// A negative one is refused whatever its value: -1ns is KeepForever's,
	// which only "forever" means here.
	if msg := retentionProblem(d); msg != "" || d <= 0 {
		return 0, fmt.Errorf("retention %q: must be at least 1ms", s)
	}
	return d, nil
}

// durationSyntax is what time.ParseDuration reads, sign aside; its error
// is the same for text of another shape and for a value too long to hold.
var durationSyntax = regexp.MustCompile(`^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// retentionProblem says what is wrong with a workflow's own retention, or
// "" when nothing is (0, the engine's default, included).
func retentionProblem(d time.Duration) string {
	if d < 0 && d != KeepForever || d > 0 && d < time.Millisecond {
		return fmt.Sprintf("retention must be at least 1ms, 0 (the engine's) or KeepForever, got %s", d)
	}
	return ""
}
