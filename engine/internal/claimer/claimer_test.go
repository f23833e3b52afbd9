package claimer

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/dispatch"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// lateClock is a fake clock whose timers fire late: moving it (Set)
// fires none, as a loaded machine's runtime may fire a timer after another
// signal it was racing.
type lateClock struct {
	*clock.Fake
	mu     sync.Mutex
	timers []time.Time // deadlines asked for
}

// After never fires (a timer this late is a timer that lost its race).
func (c *lateClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, c.Now().Add(d))
	return make(chan time.Time)
}

// armed reports whether a timer was asked for t.
func (c *lateClock) armed(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.ContainsFunc(c.timers, t.Equal)
}

// A due time that passes while the loop waits, and whose timer loses its
// race to a freed slot (no backlog, so that pass claims nothing), is
// still claimed at once, not at the poll interval. The loop used to drop
// every due time up to the pass's start whether or not the pass had
// claimed: a retry or a suspended workflow then waited for the poll
// (TestDurableRetriesRunAtTheirDueTime failed so under load, 2 runs in 64
// with four at once).
func TestDueTimeSurvivesAPassThatDidNotClaim(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "due.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := &lateClock{Fake: clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}
	claimed := make(chan string, 8)
	release := map[string]chan struct{}{}
	for r := range 3 {
		release[fmt.Sprintf("hold-%d", r)] = make(chan struct{})
	}
	disp := dispatch.New(4, func(c *store.ClaimedStep) func() {
		claimed <- c.Step.Name
		if ch, ok := release[c.Step.Name]; ok {
			<-ch
		}
		return nil
	})
	due := &Due{}
	wake := make(chan struct{}, 1)
	loop := New(Config{Owner: "w", BatchSize: 4, LeaseTTL: time.Hour, PollInterval: time.Hour}, st, clk, zap.NewNop(), disp, due, wake, Hooks{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); loop.Run(ctx, stop) }()
	defer func() { close(stop); <-done; disp.Close(); disp.Wait() }()

	next := func(want string) {
		t.Helper()
		select {
		case got := <-claimed:
			if got != want {
				t.Fatalf("claimed %s, want %s", got, want)
			}
		case <-time.After(10 * time.Second): // a bound on failure, not a wait for success
			t.Fatalf("%s was not claimed: its due time waited for the poll interval (an hour)", want)
		}
	}
	create := func(name string, at time.Time) {
		t.Helper()
		_, err := st.CreateTask(ctx, &store.CreateTaskParams{Namespace: "t", Name: "due", Kind: store.KindDAG, IdentityKey: name,
			Steps: []store.NewStep{{Name: name, Handler: "h", NotBefore: at}}, Now: clk.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	for r := range 3 {
		hold, later := fmt.Sprintf("hold-%d", r), fmt.Sprintf("later-%d", r)
		at := clk.Now().Add(300 * time.Millisecond)
		create(hold, time.Time{})
		create(later, at)
		due.Add(at)
		// A Start in this process wakes the loop, which claims hold. (The
		// due time's kick is no wake-up for it: when the loop has yet to
		// drop the last round's due time, this one is not the earliest.)
		select {
		case wake <- struct{}{}:
		default:
		}
		next(hold)
		for !clk.armed(at) { // until the loop waits for the due time
			runtime.Gosched()
		}
		clk.Set(at) // due, its timer late
		close(release[hold])
		next(later)
	}
}
