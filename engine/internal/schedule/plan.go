package schedule

import (
	"hash/fnv"
	"time"
)

// Overlap policies: what a tick does while the schedule's previous run
// has not finished.
const (
	Skip           = "skip"            // the tick is dropped
	BufferOne      = "buffer_one"      // the tick waits for the run to end; one waits at most
	AllowAll       = "allow_all"       // the tick starts a run anyway
	CancelPrevious = "cancel_previous" // the previous run is cancelled, the tick starts one
)

// Policies lists the overlap policies.
var Policies = []string{Skip, BufferOne, AllowAll, CancelPrevious}

// MaxTicksPerPass bounds the ticks one pass starts for a schedule under
// AllowAll; the rest are handled by the next pass. Under the other
// policies a pass drops the rest of a longer backlog, as they would be.
const MaxTicksPerPass = 100

// State is what a pass knows about a schedule.
type State struct {
	Next     time.Time // the earliest tick not yet handled
	Buffered time.Time // a tick waiting for the previous run (zero: none)
	Running  bool      // the previous run has not finished
}

// Plan is what one pass does for a schedule.
type Plan struct {
	Start  []time.Time // ticks to start, in order
	Cancel bool        // cancel the previous run before starting
	// Next and Buffered are the schedule's new state.
	Next     time.Time
	Buffered time.Time
	// Dropped counts ticks dropped: outside the catch-up window, or
	// skipped under the overlap policy (a stretch jumped over, outside
	// the window or past what a pass takes, counts one).
	Dropped int
}

// Changed reports whether the plan starts, cancels or moves anything.
func (p Plan) Changed(st State) bool {
	return len(p.Start) > 0 || p.Cancel || !p.Next.Equal(st.Next) || !p.Buffered.Equal(st.Buffered)
}

// Decide plans a pass at now: the ticks from st.Next up to now, those
// before oldest (now less the catch-up window) dropped, the rest handled in order under the
// overlap policy as if each had fired on time while the run it started
// was still going (so a backlog under Skip starts one run).
func Decide(spec Spec, st State, overlap string, oldest, now time.Time) Plan {
	p := Plan{Next: st.Next, Buffered: st.Buffered}
	running := st.Running
	if !p.Buffered.IsZero() && p.Buffered.Before(oldest) {
		p.Buffered = time.Time{}
		p.Dropped++
	}
	if !p.Buffered.IsZero() && !running {
		p.Start = append(p.Start, p.Buffered)
		p.Buffered, running = time.Time{}, true
	}
	if !p.Next.IsZero() && p.Next.Before(oldest) {
		// Jump over the ticks outside the window (counting them would
		// take as long as the downtime was).
		p.Next = spec.NextAtOrAfter(oldest)
		p.Dropped++
	}
	var due []time.Time
	for !p.Next.IsZero() && !p.Next.After(now) && len(due) < MaxTicksPerPass {
		due = append(due, p.Next)
		p.Next = spec.Next(p.Next)
	}
	if overlap != AllowAll && !p.Next.IsZero() && !p.Next.After(now) {
		// More ticks are due than a pass takes. Under this policy the
		// rest would all be dropped (CancelPrevious: all but the last,
		// which starts instead of due's last), so they are here: left to
		// the next pass, it would find the run this one starts ended (a
		// quick run) and start another, or cancel it for a later tick.
		last := spec.lastAtOrBefore(p.Next, now)
		if overlap == CancelPrevious {
			due[len(due)-1] = last
		}
		p.Next = spec.Next(last)
		p.Dropped++
	}
	if overlap == CancelPrevious && len(due) > 0 {
		// Only the last run would survive: start it alone.
		p.Dropped += len(due) - 1
		p.Cancel = running && len(p.Start) == 0
		p.Start = append(p.Start, due[len(due)-1])
		return p
	}
	for _, t := range due {
		switch {
		case !running || overlap == AllowAll:
			p.Start = append(p.Start, t)
			running = true
		case overlap == BufferOne && p.Buffered.IsZero():
			p.Buffered = t
		default:
			p.Dropped++
		}
	}
	return p
}

// Jitter is the delay of a tick's run: a fraction of max that is the same
// in every process (a hash of the schedule and the tick), so a tick
// started twice is started alike.
func Jitter(id string, tick time.Time, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	_, _ = h.Write([]byte(tick.UTC().Format(time.RFC3339Nano)))
	return time.Duration(h.Sum64() % uint64(max))
}

// Key is the idempotency key of the run a tick starts.
func Key(id string, tick time.Time) string {
	return "schedule:" + id + "@" + tick.UTC().Format(time.RFC3339Nano)
}

// TriggerKey is the idempotency key of a run started by hand at t.
func TriggerKey(id string, t time.Time) string {
	return "schedule:" + id + "@trigger:" + t.UTC().Format(time.RFC3339Nano)
}
