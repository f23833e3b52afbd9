package engine

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/internal/clock"
)

// recordHookClock is a fake clock that runs hook once, the first time the
// system gate reads it while recording an outcome (before it takes its
// lock): what happens to the breaker in the meantime.
type recordHookClock struct {
	*clock.Fake
	mu   sync.Mutex
	hook func()
}

func (c *recordHookClock) Now() time.Time {
	c.mu.Lock()
	hook := c.hook
	if hook != nil && calledFrom("cachex.(*SystemGate).Record") {
		c.hook = nil
	} else {
		hook = nil
	}
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return c.Fake.Now()
}

// calledFrom reports whether a function whose name holds fn is a caller.
func calledFrom(fn string) bool {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, fn) {
			return true
		}
		if !more {
			return false
		}
	}
}

// systemResult decided whether a success was a late one (of an attempt
// that took no probe, told while the breaker is half-open) on the state it
// read, and recorded it after: a breaker that opened and handed out its
// probe in between took the late success for the probe's and closed before
// the probe had reached the system. The decision is now the recording's,
// under the gate's lock.
func TestLateSuccessIsJudgedWhenItIsRecorded(t *testing.T) {
	ctx := context.Background()
	clk := &recordHookClock{Fake: clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}
	e := breakerEngine(t, clk)
	_, late, held := e.systemHold(ctx, "api") // closed: let through, no probe
	if held || late != (cachex.Probe{}) {
		t.Fatalf("a closed breaker's call: held %v, probe %v; want let through, no probe", held, late)
	}
	var probe cachex.Probe
	clk.mu.Lock()
	clk.hook = func() { // as the late success is recorded: another attempt fails, and a probe goes out
		_, failing, _ := e.systemHold(ctx, "api")
		e.systemResult(ctx, "api", failing, errors.New("503 Service Unavailable"))
		clk.Advance(10 * time.Second)
		_, probe, held = e.systemHold(ctx, "api")
	}
	clk.mu.Unlock()
	e.systemResult(ctx, "api", late, nil)
	if held || probe == (cachex.Probe{}) {
		t.Fatalf("half-open: held %v, probe %v; want the probe out (the hook did not run?)", held, probe)
	}
	if st := e.co.gate.State("api"); st != cachex.BreakerHalfOpen {
		t.Fatalf("the late success, recorded as the breaker reopened, left it %v, want half_open (the probe is out)", st)
	}
	e.systemResult(ctx, "api", probe, nil)
	if st := e.co.gate.State("api"); st != cachex.BreakerClosed {
		t.Fatalf("the probe's success left the breaker %v, want closed", st)
	}
}
