package engine

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tasker-go/tasker/store/sqlite"
)

// TestQueueGaugesOfSharedMetrics: engines of one process on one store
// share a Metrics; the one that leads maintenance exports the queue
// gauges, and the other's passes (it does not lead) leave them be: they
// dropped them, so a scrape mostly found none. The leader's figures go
// when it stops leading.
func TestQueueGaugesOfSharedMetrics(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "q.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	ready := func() (float64, int) { // the mail queue's ready steps, and how many series
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "tasker_queue_ready_steps" {
				sum := 0.0
				for _, s := range f.GetMetric() {
					sum += s.GetGauge().GetValue()
				}
				return sum, len(f.GetMetric())
			}
		}
		return 0, 0
	}
	var engines [2]*Engine
	for i := range engines {
		if engines[i], err = New(Config{Store: st, Metrics: m}); err != nil {
			t.Fatal(err)
		}
	}
	leader, follower := engines[0], engines[1]
	if err := leader.HandleFunc("mail", func(*StepContext) (any, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if err := leader.Register(&Template{Namespace: "m", Name: "mail", Queue: "mail", Steps: []StepTemplate{{Name: "send", Handler: "mail"}}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := leader.Start(ctx, "m/mail", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	leader.maintained(ctx, true)
	follower.maintained(ctx, false)
	if got, n := ready(); got != 3 || n != 1 {
		t.Fatalf("queue_ready_steps = %v in %d series after the follower's pass, want the leader's 3 in 1", got, n)
	}
	leader.maintained(ctx, false)
	if _, n := ready(); n != 0 {
		t.Fatalf("%d queue_ready_steps series once no engine leads, want 0", n)
	}
	// A leader that stops (Run returns: detach) leaves no figures behind,
	// nor itself in the Metrics.
	m.attach(leader)
	leader.maintained(ctx, true)
	m.detach(leader)
	if _, n := ready(); n != 0 || len(m.lags) != 0 {
		t.Fatalf("%d queue_ready_steps series and %d engines' figures kept after the leader stopped, want none", n, len(m.lags))
	}
}
