package engine

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store/sqlite"
)

// The success of an attempt let through while its system's breaker was
// closed, arriving once the breaker is half-open with another step's
// probe out, is not taken for the probe's: it closed the breaker before
// the probe had reached the system, and the steps held back rushed in.
// The probe's own success closes it.
func TestLateSuccessOfACallBeforeTheOpeningIsNotAProbes(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e := breakerEngine(t, clk)
	_, late, held := e.systemHold(ctx, "api") // closed: let through, no probe
	if held || late != (cachex.Probe{}) {
		t.Fatalf("a closed breaker's call: held %v, probe %v; want let through, no probe", held, late)
	}
	_, failing, _ := e.systemHold(ctx, "api")
	e.systemResult(ctx, "api", failing, errors.New("503 Service Unavailable")) // opens
	clk.Advance(10 * time.Second)
	_, probe, held := e.systemHold(ctx, "api")
	if held || probe == (cachex.Probe{}) {
		t.Fatalf("half-open: held %v, probe %v; want the probe", held, probe)
	}
	e.systemResult(ctx, "api", late, nil)
	if st := e.co.gate.State("api"); st != cachex.BreakerHalfOpen {
		t.Fatalf("the late success of a call let through before the opening left the breaker %v, want half_open (the probe is out)", st)
	}
	e.systemResult(ctx, "api", probe, nil)
	if st := e.co.gate.State("api"); st != cachex.BreakerClosed {
		t.Fatalf("the probe's success left the breaker %v, want closed", st)
	}
}

// breakerEngine is an engine on a fresh SQLite file, on clk, whose
// breaker opens at the first failure and stays open 10 s.
func breakerEngine(t *testing.T, clk Clock) *Engine {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "e.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e, err := New(Config{Store: s, Clock: clk, Breaker: cachex.BreakerConfig{ConsecutiveFailures: 1, OpenFor: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}
