package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// Names that are valid but hostile — Unicode (combining marks, emoji,
// right-to-left text) and SQL quotes and comments — work end to end on
// both databases: a template, its steps and handler, an idempotency key,
// an event name; the task runs, a step is found by its name, and the
// stored names are the ones given, byte for byte.
func TestHostileNamesWork(t *testing.T) {
	t.Parallel()
	const (
		ns      = "naïve-ñ"
		name    = `o'rder"; DROP TABLE tasker_tasks; --`
		stepA   = "étape 1 🚀"
		stepB   = `b'); DELETE FROM tasker_steps; --`
		handler = "h'andler \u202eevil"
		key     = `k'ey\" OR 1=1 --`
	)
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := openChaosStore(t, db)
			e := newEngine(t, chaosConfig(s, "names"))
			must(t, e.HandleFunc(handler, func(sc *engine.StepContext) (any, error) { return sc.Step, nil }))
			must(t, e.Register(&engine.Template{Namespace: ns, Name: name, Steps: []engine.StepTemplate{
				{Name: stepA, Handler: handler}, {Name: stepB, Handler: handler, DependsOn: []string{stepA}}}}))
			must(t, engine.RegisterWorkflow(e, ns+"/flow '--", func(w *engine.WorkflowContext, _ int) (string, error) {
				return engine.WaitEvent[string](w, `ev'ent 🚀`, time.Minute)
			}))
			h, err := e.Start(ctx, ns+"/"+name, nil, engine.WithIdempotencyKey(key))
			must(t, err)
			again, err := e.Start(ctx, ns+"/"+name, nil, engine.WithIdempotencyKey(key))
			must(t, err)
			if !again.Existing || again.TaskID != h.TaskID {
				t.Fatalf("the same key started twice: %+v, %+v", h, again)
			}
			flow, err := engine.StartWorkflow[int, string](ctx, e, ns+"/flow '--", 1)
			must(t, err)
			if _, err := e.SendEvent(ctx, flow.TaskID, `ev'ent 🚀`, key, "payload 'x'"); err != nil {
				t.Fatal(err)
			}
			done, err := e.RunBackground(ctx)
			must(t, err)
			defer func() { must(t, e.Stop(ctx)); <-done }()
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			out, err := h.Wait(wctx)
			must(t, err)
			var b string
			must(t, out.Decode(stepB, &b))
			if out.State != store.TaskComplete || b != stepB {
				t.Fatalf("task %s, step %q result %q", out.State, stepB, b)
			}
			got, err := flow.Result(wctx)
			if err != nil || got != "payload 'x'" {
				t.Fatalf("flow: %q, %v", got, err)
			}
			d, err := s.GetTask(ctx, h.TaskID)
			must(t, err)
			if d.Task.Namespace != ns || d.Task.Name != name || d.Step(stepA) == nil || d.Step(stepB) == nil || d.Step(stepB).Handler != handler {
				t.Fatalf("stored names differ: %q %q %+v", d.Task.Namespace, d.Task.Name, d.Steps)
			}
		})
	}
}
