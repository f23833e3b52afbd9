package engine

import (
	"fmt"
	"time"

	"github.com/tasker-go/tasker/store"
)

// StartAt delays the task's start until t: it is created now (so its
// identity is taken and a second start finds it), and its first steps —
// a code-first workflow's driver, a DAG's steps without dependencies —
// are not claimed before t. A time in the past starts it at once;
// WithWorkflowTimeout counts from t (from the start, for a time in the
// past: the task did not start then). The zero time is refused, and so are
// a time whose year (in UTC) is before 1 or past 9999, and StartAt given
// with StartAfter (or twice).
func StartAt(t time.Time) StartOption {
	return func(o *startOptions) { o.startAt, o.startAfter, o.after = t, 0, false; o.delays++ }
}

// StartAfter is StartAt(now + d) on the engine's clock: 0 starts at once.
// A negative d is refused, and so is a positive one under a millisecond
// (a bare number is nanoseconds: StartAfter(30) is 30 ns, not 30 s), and
// StartAfter given with StartAt (or twice).
func StartAfter(d time.Duration) StartOption {
	return func(o *startOptions) { o.startAt, o.startAfter, o.after = time.Time{}, d, true; o.delays++ }
}

// notBefore is when a delayed start may run (zero: at once), or an error
// for a refused option.
func (o *startOptions) notBefore(clk Clock) (time.Time, error) {
	switch {
	case o.delays == 0:
		return time.Time{}, nil
	case o.after && o.startAfter < 0:
		return time.Time{}, fmt.Errorf("%w: StartAfter(%s): the delay is negative", store.ErrInvalid, o.startAfter)
	case o.after && o.startAfter > 0 && o.startAfter < time.Millisecond:
		return time.Time{}, fmt.Errorf("%w: StartAfter(%s): the delay is under a millisecond: a bare number is nanoseconds (write 30 * time.Second, not 30)", store.ErrInvalid, o.startAfter)
	case o.after:
		return clk.Now().Add(o.startAfter).UTC(), nil
	case o.startAt.IsZero():
		return time.Time{}, fmt.Errorf("%w: StartAt: the time is zero", store.ErrInvalid)
	case o.startAt.UTC().Year() < 1 || o.startAt.UTC().Year() > 9999:
		// SQLite keeps the time as text no read parses back, which the
		// claim also compares as text: "10000-…" sorts before today.
		return time.Time{}, fmt.Errorf("%w: StartAt(%s): the year is outside 1 to 9999, which the stores hold", store.ErrInvalid, o.startAt.Format(time.RFC3339))
	}
	return o.startAt.UTC(), nil
}

// delay holds back the steps without dependencies until the start time.
func (o *startOptions) delay(clk Clock, steps []store.NewStep) error {
	at, err := o.notBefore(clk)
	if err != nil || at.IsZero() {
		return err
	}
	for i := range steps {
		if len(steps[i].DependsOn) == 0 {
			steps[i].NotBefore = at
		}
	}
	return nil
}
