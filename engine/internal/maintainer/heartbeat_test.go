package maintainer

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/inflight"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/internal/faultstore"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// Heartbeats that fail (the database unreachable) cancel a handler once
// its lease must have expired — a lease TTL after it was last known to
// hold — and not before.
func TestFailingHeartbeatsCancelOnceTheLeaseExpired(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	broken, err := faultstore.New(s, 1, faultstore.Rule{Method: "ExtendLeases", Action: faultstore.FailBefore})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	var in inflight.Set
	handler, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	in.Add(store.Lease{StepID: 1, Token: 1}, 1, cancel)
	beats := make(chan struct{}, 1)
	const ttl = 3 * time.Second
	m := New(Config{Owner: "w", LeaseTTL: ttl, RescueInterval: time.Second}, broken, clk, zap.NewNop(), &in, Hooks{Beat: func(context.Context) { beats <- struct{}{} }})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Heartbeat(ctx) }()
	defer func() { stop(); <-done }()

	// idle returns once the heartbeat waits for its next beat (the one
	// before has finished); beat moves the clock to that beat.
	idle := func() {
		for {
			if _, ok := clk.Next(); ok {
				return
			}
			runtime.Gosched()
		}
	}
	beat := func() {
		idle()
		clk.Advance(ttl / 3)
		<-beats
	}
	for i := 1; i <= 3; i++ {
		beat() // t=i s: the extension fails; the lease was first seen at t=1s
		idle()
		if handler.Err() != nil {
			t.Fatalf("cancelled after the beat at t=%ds, before the lease (seen at t=1s, TTL %s) could have expired", i, ttl)
		}
	}
	beat() // t=4s: 1s + 3s
	idle()
	if c := context.Cause(handler); c != ErrLeaseLost {
		t.Fatalf("after failing past the lease the handler's cause is %v; want ErrLeaseLost", c)
	}
}
