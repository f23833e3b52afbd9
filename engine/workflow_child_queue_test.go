package engine_test

import (
	"context"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// A DAG template that declares its queue runs its children there: the
// GPU workers serve only "gpu", the parent runs on "default", and a child
// put on its parent's queue waited forever (nobody serving its handler
// there). A child without a queue of its own (here a template without
// Queue) runs on its parent's.
func TestChildTemplateKeepsItsQueue(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil) // serves "default"
	must(t, env.HandleFunc("plain", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "render", Queue: "gpu", Steps: []engine.StepTemplate{{Name: "only", Handler: "render"}}}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "plain", Steps: []engine.StepTemplate{{Name: "only", Handler: "plain"}}}))
	must(t, engine.RegisterWorkflow(env.Engine, "t/parent", func(wctx *engine.WorkflowContext, name string) (int, error) {
		_, err := engine.Child[map[string]any](wctx, name, nil)
		return 0, err
	}))
	gpu, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock.Fake, WorkerID: "gpu", Execution: engine.ExecutionConfig{Queues: []string{"gpu"}}})
	must(t, err)
	must(t, gpu.HandleFunc("render", func(*engine.StepContext) (any, error) { return nil, nil }))
	for _, c := range []struct{ child, queue string }{{"t/render", "gpu"}, {"t/plain", "default"}} {
		p, err := engine.StartWorkflow[string, int](ctx, env.Engine, "t/parent", c.child)
		must(t, err)
		if _, err := env.RunOnce(ctx); err != nil { // the parent starts its child (and runs it, if it can)
			t.Fatal(err)
		}
		kids, err := env.Store.ListTasks(ctx, &store.ListTasksParams{ParentID: &p.TaskID, Limit: 10})
		must(t, err)
		if len(kids.Tasks) != 1 || kids.Tasks[0].Queue != c.queue {
			t.Fatalf("the child %s: %d children, want one on queue %q", c.child, len(kids.Tasks), c.queue)
		}
		if _, err := gpu.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		env.RunUntilDone(p.TaskID)
		if d := env.Task(p.TaskID); d.Task.State != store.TaskComplete {
			t.Fatalf("the parent of %s: %s", c.child, d.Task.State)
		}
	}
}
