package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
)

// Two engines of one process on one SQLite store, sharing a Metrics, both
// lead maintenance (every process does on SQLite) and both measure the
// queues: the gauges show the store's ready steps once, as last measured,
// not the sum of the two measures of the same steps.
func TestQueueLagOfOneStoreCountedOnce(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	st := openSQLite(t)
	fake := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) // one pass each: the next waits for the clock
	newEng := func(id string) *engine.Engine {
		e := newEngine(t, engine.Config{Store: st, Metrics: m, Clock: fake, WorkerID: id})
		must(t, e.HandleFunc("mail", func(*engine.StepContext) (any, error) { return nil, nil }))
		must(t, e.Register(&engine.Template{Namespace: "m", Name: "mail", Queue: "mail", Steps: []engine.StepTemplate{{Name: "send", Handler: "mail"}}}))
		return e
	}
	a, b := newEng("a"), newEng("b")
	start := func(n int) {
		for range n {
			_, err := a.Start(ctx, "m/mail", nil, engine.Unique())
			must(t, err)
		}
	}
	ready := func(not float64) float64 { // waits for the gauge to leave not
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if v, ok := metricValue(t, reg, "tasker_queue_ready_steps", map[string]string{"queue": "mail"}); ok && v != not {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("queue_ready_steps{queue=mail} still %v after 30s", not)
			}
			time.Sleep(time.Millisecond) // polling a gauge the maintenance pass sets on its own goroutine
		}
	}
	start(3)
	run(t, a) // serves "default" only: the mail steps stay ready
	if v := ready(0); v != 3 {
		t.Fatalf("after a's pass: %v ready, want 3", v)
	}
	start(2)
	run(t, b)
	if v := ready(3); v != 5 {
		t.Fatalf("after b's pass: %v ready, want the store's 5 (a measured 3 of them before)", v)
	}
}
