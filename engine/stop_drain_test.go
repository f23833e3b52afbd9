package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store/postgres"
)

// Stop whose context has ended cancels the handlers; when every one of
// them returns, it waits for what is left — their leases given back, the
// worker registry left — and returns nil. It gave that 20 ms, and on
// Postgres the bookkeeping took longer: Stop reported handlers still
// running (the CLI's worker exited with status 1, before its leases were
// given back) and stopped the heartbeats under them.
func TestStopWaitsForTheDrainOfHandlersThatReturned(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t), MaxConns: 4})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	e := newEngine(t, engine.Config{Store: s, WorkerID: "w"})
	const n = 8
	entered := make(chan struct{}, n)
	oneStep(t, e, "x", func(sc *engine.StepContext) (any, error) {
		entered <- struct{}{}
		<-sc.Done() // honours cancellation
		return nil, sc.Err()
	}, engine.StepTemplate{})
	done, err := e.RunBackground(ctx)
	must(t, err)
	for i := range n {
		_, err := e.Start(ctx, "t/x", map[string]int{"i": i})
		must(t, err)
	}
	for range n {
		<-entered
	}
	over, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if err := e.Stop(over); err != nil {
		t.Fatalf("Stop with every handler returning on cancellation = %v; want nil", err)
	}
	if st := e.Status(); st.Running || st.Stats.LeasesReleased != n {
		t.Fatalf("after Stop: running %v, %d leases given back; want stopped, %d", st.Running, st.Stats.LeasesReleased, n)
	}
	ws, err := e.Workers(ctx)
	must(t, err)
	if len(ws) != 0 {
		t.Fatalf("after Stop the registry lists %+v", ws)
	}
	must(t, <-done)
}
