package engine_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
)

// The server drops every connection of a running engine — its pool and its
// LISTEN connection — three times while 300 three-step workflows run: the
// engine reconnects and every workflow completes, no step recorded
// complete twice. (issue 13: connection drops)
func TestPostgresConnectionsTerminatedMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("drives PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	app := fmt.Sprintf("tasker_term_%d", time.Now().UnixNano())
	s, err := postgres.Open(ctx, pgtest.URL(t)+"&application_name="+app, &postgres.Options{Schema: pgtest.NewSchema(t), MaxConns: 8})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	e, err := engine.New(engine.Config{Store: s, Execution: engine.ExecutionConfig{
		LeaseTTL: 3 * time.Second, RescueInterval: 200 * time.Millisecond, PollInterval: 100 * time.Millisecond}})
	must(t, err)
	var ran atomic.Int64
	must(t, e.HandleFunc("step", func(sc *engine.StepContext) (any, error) { ran.Add(1); return sc.Step, nil }))
	must(t, e.Register(&engine.Template{Namespace: "term", Name: "chain", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "step", RetryLimit: 10},
		{Name: "b", Handler: "step", DependsOn: []string{"a"}, RetryLimit: 10},
		{Name: "c", Handler: "step", DependsOn: []string{"b"}, RetryLimit: 10},
	}}))
	run(t, e)

	const tasks = 300
	handles := make([]*engine.TaskHandle, 0, tasks)
	terminated := 0
	for i := range tasks {
		if i%100 == 50 { // mid-run, three times
			var n int
			must(t, s.DB().NewRaw("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = ? AND pid <> pg_backend_pid()", app).Scan(ctx, &n))
			terminated += n
		}
		var h *engine.TaskHandle
		for attempt := 0; ; attempt++ { // a start may meet a dropped connection: starting again is idempotent
			h, err = e.Start(ctx, "term/chain", map[string]int{"i": i})
			if err == nil || attempt == 5 {
				break
			}
		}
		must(t, err)
		handles = append(handles, h)
	}
	if terminated < 3 {
		t.Fatalf("terminated %d backends in all; the test meant to drop the engine's connections three times", terminated)
	}
	for _, h := range handles {
		out, err := h.Wait(ctx)
		must(t, err)
		if out.State != store.TaskComplete {
			t.Fatalf("task %d ended %s", h.TaskID, out.State)
		}
	}
	var dup int
	must(t, s.DB().NewRaw(`SELECT count(*) FROM (SELECT step_id FROM tasker_step_transitions WHERE to_state = 'complete'
		GROUP BY step_id HAVING count(*) > 1) d`).Scan(ctx, &dup))
	if dup != 0 {
		t.Fatalf("%d steps recorded complete twice", dup)
	}
	t.Logf("%d backends terminated; %d handler runs for %d steps", terminated, ran.Load(), tasks*3)
}
