package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// metricValue sums the samples of a metric whose labels include want
// (a counter's value, a gauge's, a histogram's sample count).
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	sum, found := 0.0, false
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			found = true
			sum += sampleOf(f.GetType(), m)
		}
	}
	return sum, found
}

func sampleOf(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tasker.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestMetricsAfterKnownWorkload: 10 tasks of which 3 fail their first
// attempt once give exactly 10 started, 10 completed, 3 retries and 13
// attempts (10 complete, 3 error), on a registry of the app's own.
func TestMetricsAfterKnownWorkload(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	e, err := engine.New(engine.Config{Store: openSQLite(t), Metrics: m, Retry: retryFast,
		Execution: engine.ExecutionConfig{PollInterval: 10 * time.Millisecond}})
	must(t, err)
	var mu sync.Mutex
	failedOnce := map[int64]bool{}
	must(t, e.HandleFunc("work", func(sc *engine.StepContext) (any, error) {
		var in struct{ N int }
		if err := sc.Input(&in); err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if in.N < 3 && !failedOnce[sc.TaskID] {
			failedOnce[sc.TaskID] = true
			return nil, errors.New("flaky once")
		}
		return in.N, nil
	}))
	must(t, e.Register(&engine.Template{Namespace: "m", Name: "job", Steps: []engine.StepTemplate{{Name: "only", Handler: "work", RetryLimit: 3}}}))
	done, err := e.RunBackground(ctx)
	must(t, err)
	for i := range 10 {
		h, err := e.Start(ctx, "m/job", map[string]int{"N": i})
		must(t, err)
		out, err := h.Wait(ctx)
		must(t, err)
		must(t, out.Err())
	}
	must(t, e.Stop(ctx))
	<-done

	wf := map[string]string{"workflow": "m/job"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tasker_tasks_started_total", wf, 10},
		{"tasker_tasks_completed_total", wf, 10},
		{"tasker_step_retries_total", wf, 3},
		{"tasker_step_attempt_duration_seconds", map[string]string{"workflow": "m/job", "step": "only"}, 13},
		{"tasker_step_attempt_duration_seconds", map[string]string{"outcome": "complete"}, 10},
		{"tasker_step_attempt_duration_seconds", map[string]string{"outcome": "error"}, 3},
	} {
		got, _ := metricValue(t, reg, c.name, c.labels)
		if got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"tasker_tasks_failed_total", "tasker_tasks_cancelled_total", "tasker_results_discarded_total", "tasker_leases_rescued_total"} {
		if got, _ := metricValue(t, reg, name, nil); got != 0 {
			t.Errorf("%s = %v, want 0", name, got)
		}
	}
	if got, _ := metricValue(t, reg, "tasker_finish_transactions_total", nil); got < 1 {
		t.Errorf("finish transactions = %v, want at least one", got)
	}
	if got := e.Stats(); float64(got.FinishTransactions) != must1(metricValue(t, reg, "tasker_finish_transactions_total", nil)) {
		t.Errorf("finish transactions: metric differs from Stats (%d)", got.FinishTransactions)
	}
}

func must1(v float64, _ bool) float64 { return v }

// TestMetricsCancelAndQueueLag: a cancel counts by workflow with the actor
// recorded; the maintenance leader exports the ready steps of a queue no
// worker serves and their age, and drops the gauges when it stops.
func TestMetricsCancelAndQueueLag(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics()
	reg.MustRegister(m)
	st := openSQLite(t)
	e, err := engine.New(engine.Config{Store: st, Metrics: m, Execution: engine.ExecutionConfig{RescueInterval: 5 * time.Millisecond}})
	must(t, err)
	must(t, e.HandleFunc("mail", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.Register(&engine.Template{Namespace: "m", Name: "mail", Queue: "mail", Steps: []engine.StepTemplate{{Name: "send", Handler: "mail"}}}))
	var ids []int64
	for i := range 3 {
		h, err := e.Start(ctx, "m/mail", map[string]int{"i": i})
		must(t, err)
		ids = append(ids, h.TaskID)
	}
	done, err := e.RunBackground(ctx) // serves "default" only
	must(t, err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, ok := metricValue(t, reg, "tasker_queue_ready_steps", map[string]string{"queue": "mail"}); ok && v == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the leader never exported 3 ready steps for queue mail")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition the engine sets on its own interval
	}
	if age, _ := metricValue(t, reg, "tasker_queue_oldest_ready_seconds", map[string]string{"queue": "mail"}); age < 0 {
		t.Fatalf("oldest ready age %v is negative", age)
	}
	if v, ok := metricValue(t, reg, "tasker_pool_connections", nil); !ok || v < 0 {
		t.Fatalf("pool connections not exported while running (%v, %v)", v, ok)
	}
	must(t, e.Cancel(engine.WithActor(ctx, "token:alice"), ids[0], "not needed"))
	if got, _ := metricValue(t, reg, "tasker_tasks_cancelled_total", map[string]string{"workflow": "m/mail"}); got != 1 {
		t.Fatalf("cancelled = %v, want 1", got)
	}
	h, err := st.History(ctx, ids[0])
	must(t, err)
	last := h.Task[len(h.Task)-1]
	if last.ToState != string(store.TaskCancelled) || !strings.Contains(string(last.Metadata), `"actor":"token:alice"`) {
		t.Fatalf("last transition %s %s, want cancelled with the actor", last.ToState, last.Metadata)
	}
	must(t, e.Stop(ctx))
	<-done
	if _, ok := metricValue(t, reg, "tasker_queue_ready_steps", nil); ok {
		t.Fatal("queue gauges still exported after the leader stopped")
	}
	if _, ok := metricValue(t, reg, "tasker_pool_connections", nil); ok {
		t.Fatal("pool metrics still exported after the engine stopped")
	}
}

// TestSlogLogger: Config.Slog receives the engine's lines; Logger and
// Slog together are refused.
func TestSlogLogger(t *testing.T) {
	st := openSQLite(t)
	var buf strings.Builder
	var mu sync.Mutex
	h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) }), &slog.HandlerOptions{Level: slog.LevelInfo})
	e, err := engine.New(engine.Config{Store: st, Slog: slog.New(h)})
	must(t, err)
	must(t, e.HandleFunc("boom", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("no way")) }))
	must(t, e.Register(&engine.Template{Namespace: "l", Name: "og", Steps: []engine.StepTemplate{{Name: "s", Handler: "boom"}}}))
	hd, err := e.Start(context.Background(), "l/og", nil)
	must(t, err)
	_, err = e.RunOnce(context.Background())
	must(t, err)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	want := fmt.Sprintf("level=INFO msg=\"step failed\" task_id=%d step=s attempt=1", hd.TaskID)
	if !strings.Contains(out, want) {
		t.Fatalf("slog output %q lacks %q", out, want)
	}
	if _, err := engine.New(engine.Config{Store: st, Slog: slog.New(h), Logger: zap.NewNop()}); err == nil || !strings.Contains(err.Error(), "Logger and Slog") {
		t.Fatalf("both loggers: err = %v, want a refusal naming them", err)
	}
}

// TestMetricsNotMadeByNewMetricsRefused: a Metrics written as a literal
// (&engine.Metrics{}) has none of its instruments; New refuses it naming
// the option, where the engine panicked at the first task it counted. A
// registry refuses it too (TestRegisteringAnUnmadeMetricsIsRefused).
func TestMetricsNotMadeByNewMetricsRefused(t *testing.T) {
	_, err := engine.New(engine.Config{Store: openSQLite(t), Metrics: &engine.Metrics{}})
	if err == nil || !strings.Contains(err.Error(), "Metrics") || !strings.Contains(err.Error(), "NewMetrics") {
		t.Fatalf("New with a zero Metrics: err = %v, want a refusal naming Metrics and NewMetrics", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
