package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store/postgres"
)

// With MinConcurrency equal to MaxConcurrency the limit is not tuned, but
// Status().Concurrency.Pressure still reads the pool: it said "low" for
// ever, a reading the tuner never took, however busy the pool was.
func TestConcurrencyPressureReadWhenTheLimitIsFixedOnPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t), MaxConns: 4})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	e, err := engine.New(engine.Config{Store: s, Execution: engine.ExecutionConfig{
		MinConcurrency: 4, MaxConcurrency: 4, TuneInterval: 20 * time.Millisecond, PollInterval: 20 * time.Millisecond}})
	must(t, err)
	run(t, e)
	var held []bun.Conn
	for range 3 { // 75 % of the pool in use: high
		c, err := s.DB().Conn(ctx)
		must(t, err)
		held = append(held, c)
	}
	t.Cleanup(func() {
		for _, c := range held {
			_ = c.Close()
		}
	})
	st := waitStatus(t, e, "a busy pool", func(s engine.ConcurrencyStatus) bool { return s.Pressure == "high" || s.Pressure == "critical" })
	if st.Dynamic || st.Limit != 4 {
		t.Fatalf("status %+v: want the limit fixed at 4, not tuned", st)
	}
}
