package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store/postgres"
)

// waitStatus polls Status until ok holds (the tuner steps on its own
// timer, so there is no event to wait on), failing after 30 s.
func waitStatus(t *testing.T, e *engine.Engine, what string, ok func(engine.ConcurrencyStatus) bool) engine.ConcurrencyStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := e.Status().Concurrency
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: concurrency status never got there: %+v", what, s)
		}
		<-time.After(5 * time.Millisecond)
	}
}

// With dynamic_concurrency on, on a real PostgreSQL pool of 4: handlers
// that wait (here on a channel, as on I/O) and use every slot grow the
// limit past the pool's size, since they hold no connection while they
// wait; when the pool is then exhausted (the test holds all 4 connections,
// so the engine's claims and heartbeats queue for one) the limit comes
// down, and Status says it was the pool.
func TestDynamicConcurrencyFollowsPoolPressureOnPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t), MaxConns: 4})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	e, err := engine.New(engine.Config{Store: s, Execution: engine.ExecutionConfig{
		MinConcurrency: 1, MaxConcurrency: 64, TuneInterval: 20 * time.Millisecond, PollInterval: 20 * time.Millisecond}})
	must(t, err)
	gate := make(chan struct{})
	must(t, e.HandleFunc("wait", func(sc *engine.StepContext) (any, error) {
		select {
		case <-gate:
		case <-sc.Done():
		}
		return nil, nil
	}))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "waits", Steps: []engine.StepTemplate{{Name: "w", Handler: "wait"}}}))
	must(t, e.SetToggle(ctx, cachex.ToggleDynamicConcurrency, true))
	for i := range 100 {
		_, err := e.Start(ctx, "t/waits", map[string]int{"i": i})
		must(t, err)
	}
	if st := e.Status().Concurrency; st.Limit != 64 || st.Reason != "not running" {
		t.Fatalf("before Run: %+v", st)
	}
	run(t, e)
	t.Cleanup(func() { close(gate) })

	grown := waitStatus(t, e, "waiting handlers", func(s engine.ConcurrencyStatus) bool { return s.Dynamic && s.Limit > 4 })
	if !grown.Dynamic || !strings.Contains(grown.Reason, "I/O-bound") || !strings.Contains(grown.Reason, "grow") {
		t.Fatalf("grown past the pool's 4 connections, but not for the stated reason: %+v", grown)
	}

	// Exhaust the pool.
	var held []bun.Conn
	for range 4 {
		c, err := s.DB().Conn(ctx)
		must(t, err)
		held = append(held, c)
	}
	down := waitStatus(t, e, "exhausted pool", func(s engine.ConcurrencyStatus) bool { return s.Limit < grown.Limit })
	for _, c := range held {
		must(t, c.Close())
	}
	if !strings.Contains(down.Reason, "pool critical") && !strings.Contains(down.Reason, "pool high") {
		t.Fatalf("came down from %d, but not for the pool: %+v", grown.Limit, down)
	}
	t.Logf("grew to %d (%s); came down to %d (%s)", grown.Limit, grown.Reason, down.Limit, down.Reason)
}
