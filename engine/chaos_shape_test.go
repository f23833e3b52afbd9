package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// shape is a template of n steps, each depending on the one before
// (chained) or on none.
func shape(name string, n int, chained bool) *engine.Template {
	t := &engine.Template{Namespace: "shape", Name: name}
	for i := range n {
		st := engine.StepTemplate{Name: fmt.Sprint("s", i), Handler: "h"}
		if chained && i > 0 {
			st.DependsOn = []string{fmt.Sprint("s", i-1)}
		}
		t.Steps = append(t.Steps, st)
	}
	return t
}

// Huge templates on both databases: one of MaxTemplateSteps (10,000)
// independent steps and a 1,000-deep chain register, start (every step
// and edge written) and run; one step more than the limit is refused at
// registration, naming the template and the limit, and leaves nothing
// registered. CI runs the first steps of each (the shapes' creation is
// where a limit of the database would break); TASKER_CHAOS_FULL=1 runs
// both to the end (docs/chaos.md has the times).
func TestHugeTemplates(t *testing.T) {
	t.Parallel()
	full := os.Getenv("TASKER_CHAOS_FULL") != ""
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := openChaosStore(t, db)
			cfg := chaosConfig(s, "shapes")
			cfg.Execution.LeaseTTL = 30 * time.Second // many steps in flight on a loaded machine
			cfg.Execution.MaxConcurrency, cfg.Execution.BatchSize = 32, 100
			e := newEngine(t, cfg)
			must(t, e.HandleFunc("h", func(sc *engine.StepContext) (any, error) { return sc.Step, nil }))

			over := shape("over", engine.MaxTemplateSteps+1, false)
			err := e.Register(over)
			if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), "shape/over") ||
				!strings.Contains(err.Error(), fmt.Sprintf("%d steps, more than the %d allowed", engine.MaxTemplateSteps+1, engine.MaxTemplateSteps)) {
				t.Fatalf("a template of %d steps: %v", engine.MaxTemplateSteps+1, err)
			}
			if slices.ContainsFunc(e.Templates(), func(n string) bool { return strings.HasPrefix(n, "shape/over") }) {
				t.Fatal("the refused template is registered")
			}
			must(t, e.Register(shape("wide", engine.MaxTemplateSteps, false)))
			must(t, e.Register(shape("deep", 1000, true)))
			events, unsubscribe := e.Subscribe(2 * engine.MaxTemplateSteps)
			defer unsubscribe()
			done, err := e.RunBackground(ctx)
			must(t, err)
			defer func() { must(t, e.Stop(ctx)); <-done }()
			timeout := time.After(5 * time.Minute)
			// await counts the completions of task id's steps until n; a
			// chain's complete in order.
			await := func(id int64, n int, chain bool) {
				t.Helper()
				for got := 0; got < n; {
					select {
					case ev := <-events:
						if ev.Name != engine.EventStepCompleted || ev.TaskID != id {
							continue
						}
						if chain && ev.Step != fmt.Sprint("s", got) {
							t.Fatalf("chain link %s completed after %d links", ev.Step, got)
						}
						got++
					case <-timeout:
						t.Fatalf("after 5 minutes: %d of %d steps of task %d", got, n, id)
					}
				}
			}
			// Run: to the end in the full form; else the first 20 links of
			// the chain, then 100 of the wide task's steps (creating it is
			// most of the cost: 10,000 rows, ~10 s on SQLite under -race).
			wantWide, wantDeep := 100, 20
			if full {
				wantWide, wantDeep = engine.MaxTemplateSteps, 1000
			}
			began := time.Now()
			deep, err := e.Start(ctx, "shape/deep", nil)
			must(t, err)
			await(deep.TaskID, wantDeep, true)
			wide, err := e.Start(ctx, "shape/wide", nil)
			must(t, err)
			await(wide.TaskID, wantWide, false)
			// Counted in SQL: reading 10,000 step rows is most of a second
			// of the test under -race.
			for _, c := range []struct {
				id           int64
				steps, edges int
			}{{wide.TaskID, engine.MaxTemplateSteps, 0}, {deep.TaskID, 1000, 999}} {
				var steps, edges int
				must(t, s.DB().NewRaw(`SELECT (SELECT count(*) FROM tasker_steps WHERE task_id = ?0),
					(SELECT count(*) FROM tasker_step_edges WHERE task_id = ?0)`, c.id).Scan(ctx, &steps, &edges))
				if steps != c.steps || edges != c.edges {
					t.Fatalf("task %d has %d steps and %d edges, want %d and %d", c.id, steps, edges, c.steps, c.edges)
				}
				if full {
					task, err := s.GetTask(ctx, c.id)
					must(t, err)
					if task.Task.State != store.TaskComplete {
						t.Errorf("task %d is %s", c.id, task.Task.State)
					}
				}
			}
			t.Logf("%d links of the chain, then %d steps of the wide task, in %s", wantDeep, wantWide, time.Since(began).Round(time.Millisecond))
		})
	}
}
