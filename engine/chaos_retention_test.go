package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// Retention deleting finished tasks every pass while others run: every
// task completes (none is deleted unfinished, none loses a step), and what
// the cleaner deleted it deleted whole.
func TestRetentionWhileTasksFinish(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			const tasks = 60
			s := openChaosStore(t, db)
			cfg := chaosConfig(s, "cleaner")
			cfg.Execution.Retention = time.Millisecond
			cfg.Execution.RescueInterval = 10 * time.Millisecond
			e := newEngine(t, cfg)
			must(t, e.HandleFunc("h", func(sc *engine.StepContext) (any, error) { return sc.Step, nil }))
			must(t, e.Register(&engine.Template{Namespace: "ret", Name: "flow", Steps: []engine.StepTemplate{
				{Name: "a", Handler: "h"}, {Name: "b", Handler: "h", DependsOn: []string{"a"}}, {Name: "c", Handler: "h", DependsOn: []string{"b"}}}}))
			events, unsubscribe := e.Subscribe(tasks * 20)
			defer unsubscribe()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			done, err := e.RunBackground(ctx)
			must(t, err)
			ids := map[int64]bool{}
			for i := range tasks { // started while the cleaner runs
				h, err := e.Start(ctx, "ret/flow", map[string]int{"n": i})
				must(t, err)
				ids[h.TaskID] = true
			}
			completed := map[int64]bool{}
			for len(completed) < tasks {
				select {
				case ev := <-events:
					switch ev.Name {
					case engine.EventTaskCompleted:
						completed[ev.TaskID] = true
					case engine.EventTaskFailed, engine.EventTaskCancelled:
						t.Fatalf("task %d: %s", ev.TaskID, ev.Name)
					}
				case <-ctx.Done():
					t.Fatalf("%d of %d tasks completed", len(completed), tasks)
				}
			}
			must(t, e.Stop(ctx))
			<-done
			deleted := 0
			for id := range ids {
				d, err := s.GetTask(ctx, id)
				switch {
				case err == nil && d.Task.State != store.TaskComplete:
					t.Errorf("task %d is %s", id, d.Task.State)
				case err != nil:
					deleted++
				}
			}
			var orphans int
			must(t, s.DB().NewRaw(`SELECT count(*) FROM tasker_steps WHERE task_id NOT IN (SELECT id FROM tasker_tasks)`).Scan(ctx, &orphans))
			if orphans != 0 {
				t.Fatalf("%d steps outlived their deleted tasks", orphans)
			}
			if deleted == 0 {
				t.Fatalf("the cleaner deleted nothing: the scenario raced nothing")
			}
			t.Logf("%d tasks completed, %d deleted by retention meanwhile", tasks, deleted)
		})
	}
}
