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

// TestQueueGaugesOfADrainedQueueReadZero: a queue whose ready steps were
// all taken reads 0 while the engine that measured it leads; its series
// vanished (the store reports only queues with something ready), so a
// graph of the queue showed a gap, and averages over time counted only
// the moments it was busy.
func TestQueueGaugesOfADrainedQueueReadZero(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "q.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	e, err := New(Config{Store: st, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Register(&Template{Namespace: "m", Name: "mail", Queue: "mail", Steps: []StepTemplate{{Name: "send", Handler: "mail"}}}); err != nil {
		t.Fatal(err)
	}
	h, err := e.Start(ctx, "m/mail", map[string]int{"i": 1})
	if err != nil {
		t.Fatal(err)
	}
	gauge := func(name string) (float64, bool) {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			for _, s := range f.GetMetric() {
				if f.GetName() == name && len(s.GetLabel()) == 1 && s.GetLabel()[0].GetValue() == "mail" {
					return s.GetGauge().GetValue(), true
				}
			}
		}
		return 0, false
	}
	e.maintained(ctx, true)
	if v, ok := gauge("tasker_queue_ready_steps"); v != 1 || !ok {
		t.Fatalf("queue_ready_steps{queue=mail} = %v (exported %v), want 1", v, ok)
	}
	if err := e.Cancel(ctx, h.TaskID, "drained"); err != nil {
		t.Fatal(err)
	}
	e.maintained(ctx, true)
	for _, name := range []string{"tasker_queue_ready_steps", "tasker_queue_oldest_ready_seconds"} {
		if v, ok := gauge(name); v != 0 || !ok {
			t.Errorf("%s{queue=mail} of the drained queue = %v (exported %v), want 0", name, v, ok)
		}
	}
}
