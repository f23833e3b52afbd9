package schedule

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// A firing's error is kept as the schedule's LastError only as a name the
// store takes: a NUL byte or invalid UTF-8 in the message (a workflow's
// input quoted in it, say) would have the schedule's update refused, and
// a long one is cut within the limit, on a character boundary.
func TestLastErrorIsANameTheStoreTakes(t *testing.T) {
	for _, err := range []error{
		errors.New("input \"a\x00b\" refused"),
		errors.New("input \"a\xffb\" refused"),
		errors.New(strings.Repeat("é", store.MaxNameLen)),
	} {
		msg := lastError(err)
		if sc := (&store.Schedule{ID: "s", Workflow: "w/x", Spec: "@every 1m", Overlap: "skip", Input: store.JSON(`{}`), NextFireAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), LastError: msg}); sc.Validate() != nil {
			t.Errorf("lastError(%.20q) = %.20q, which the store refuses: %v", err, msg, sc.Validate())
		}
		if !utf8.ValidString(msg) || strings.ContainsRune(msg, 0) || len(msg) > store.MaxNameLen || msg == "" {
			t.Errorf("lastError(%.20q) = %.20q", err, msg)
		}
	}
}

// A firing that fails (the leader cannot start the workflow: it is not
// registered there, say) is tried again at the next Interval, not at once:
// the schedule's tick is still due, and Run waited for it, so it looped
// without a pause — reading the schedules, trying the start and logging a
// warning as fast as the store answered.
func TestRunWaitsAfterAFailedFiring(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	if err := st.CreateSchedule(ctx, &store.Schedule{ID: "s", Workflow: "w/x", Spec: "@every 1m", Overlap: Skip, Input: store.JSON(`{}`),
		CatchUpWindow: time.Hour, NextFireAt: t0, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	var starts atomic.Int32
	r := NewRunner(Config{Owner: "o", Interval: 10 * time.Second}, st, clk, zap.NewNop(), Hooks{
		Start: func(context.Context, *store.Schedule, string, time.Time) (int64, error) {
			starts.Add(1)
			return 0, errors.New("unknown workflow")
		},
	})
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// The first pass tries the start; then Run waits on the clock, which
	// does not move: a second start before it does is the loop.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, waiting := clk.Next(); waiting && starts.Load() >= 1 {
			break
		}
		if n := starts.Load(); n > 1 {
			t.Fatalf("%d starts tried at one instant: the failed firing is retried without a pause", n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run never waited (%d starts tried)", starts.Load())
		}
		runtime.Gosched()
	}
	if at, _ := clk.Next(); !at.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("Run waits until %s, want the interval's end %s", at, t0.Add(10*time.Second))
	}
	if n := starts.Load(); n != 1 {
		t.Fatalf("%d starts tried before the clock moved, want 1", n)
	}
	clk.Advance(10 * time.Second)
	for starts.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the failed firing was not tried again after the interval")
		}
		runtime.Gosched()
	}
}

// A firing that keeps failing the same way is warned of once: its error
// is recorded as the schedule's LastError (Schedules and `tasker
// schedules list` show it), and the default logger writes only what the
// engine cannot report another way. The leader warned at every pass,
// every ScheduleInterval (a second by default), for as long as it lasted.
// Another error is warned of again.
func TestFiringFailureWarnedOfOnce(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	if err := st.CreateSchedule(ctx, &store.Schedule{ID: "s", Workflow: "w/x", Spec: "@every 1m", Overlap: Skip, Input: store.JSON(`{}`),
		CatchUpWindow: time.Hour, NextFireAt: t0, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	cause := "unknown workflow"
	core, logs := observer.New(zap.DebugLevel)
	r := NewRunner(Config{Owner: "o", Interval: 10 * time.Second}, st, clk, zap.New(core), Hooks{
		Start: func(context.Context, *store.Schedule, string, time.Time) (int64, error) { return 0, errors.New(cause) },
	})
	warned := func() int { return logs.FilterLevelExact(zap.WarnLevel).FilterMessage("schedule: firing failed").Len() }
	for range 5 {
		if _, err := r.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second)
	}
	if n := warned(); n != 1 {
		t.Fatalf("the same failure warned of %d times in 5 passes, want once", n)
	}
	if n := logs.FilterLevelExact(zap.DebugLevel).FilterMessage("schedule: firing failed").Len(); n != 4 {
		t.Fatalf("the same failure logged at debug %d times after the warning, want 4", n)
	}
	cause = "the database is gone"
	if _, err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if n := warned(); n != 2 {
		t.Fatalf("another failure: %d warnings in all, want 2", n)
	}
}
