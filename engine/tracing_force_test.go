package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// A forced cancel of a task that had completed withdraws its record; its
// run had ended, and its span with it: no second span of the task's run
// (created then, ending at the cancel) is emitted.
func TestForcedCancelOfAFinishedTaskMakesNoSecondRunSpan(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tp, exp := newRecorder(t)
	e := newEngine(t, engine.Config{TracerProvider: tp})
	must(t, e.HandleFunc("ok", func(*engine.StepContext) (any, error) { return "ok", nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "done", Steps: []engine.StepTemplate{{Name: "x", Handler: "ok"}}}))
	run(t, e)
	cctx, caller := tp.Tracer("test").Start(ctx, "caller")
	h, err := e.Start(cctx, "t/done", nil)
	must(t, err)
	caller.End()
	out, err := h.Wait(ctx)
	must(t, err)
	if out.State != store.TaskComplete {
		t.Fatalf("task %s, want complete", out.State)
	}
	must(t, e.Cancel(ctx, h.TaskID, "withdrawn", engine.Force()))
	must(t, e.Stop(ctx))
	wantAttrs(t, only(t, spansOf(exp), "tasker.task t/done"), map[string]string{"tasker.outcome": "complete"})
}
