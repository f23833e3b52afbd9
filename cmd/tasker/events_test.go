package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// events send to a run that continued as new names the run that continues
// it, where the workflow reads its events now, as Engine.SendEvent does:
// it said only that the task was complete and that no wait would ever
// consume the event, which the workflow's next run would.
func TestEventsSendToAContinuedRunNamesTheNextRun(t *testing.T) {
	db := filepath.Join(t.TempDir(), "loop.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.RegisterWorkflow(e, "t/loop", func(w *engine.WorkflowContext, in int) (string, error) {
		if in < 2 {
			return "", engine.ContinueAsNew(w, in+1)
		}
		return engine.WaitEvent[string](w, "stop", time.Hour)
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[int, string](ctx, e, "t/loop", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The first two runs continue; the third waits for the event.
	for ran := 0; ran < 3; {
		n, err := e.RunOnce(ctx)
		if err != nil || n == 0 {
			t.Fatalf("RunOnce ran %d attempts (%d so far), %v; want the three runs' drivers", n, ran, err)
		}
		ran += n
	}
	runs, err := e.Runs(ctx, h.TaskID)
	if err != nil || runs.ContinuedAs == 0 {
		t.Fatalf("Runs(%d) = %+v, %v; want a next run", h.TaskID, runs, err)
	}
	last, err := e.Runs(ctx, runs.ContinuedAs)
	if err != nil || last.ContinuedAs == 0 {
		t.Fatalf("Runs(%d) = %+v, %v; want a next run", runs.ContinuedAs, last, err)
	}
	id := fmt.Sprint(h.TaskID)
	mustFail(t, fmt.Sprintf("cannot send event stop to task %s: it continued as new as task %d; the workflow reads its events in the chain's last run, task %d: tasker events send %d stop",
		id, runs.ContinuedAs, last.ContinuedAs, last.ContinuedAs), "events", "send", id, "stop", "--db", db)
	// The command it suggests sends the same event: its key, payload and
	// database given too (they were left out, the key and payload lost).
	mustFail(t, fmt.Sprintf(`tasker events send %d stop --key k1 --payload '"done"' --db %s`, last.ContinuedAs, db),
		"events", "send", id, "stop", "--key", "k1", "--payload", `"done"`, "--db", db)
	// Refused: nothing was recorded for any run.
	for _, run := range []int64{h.TaskID, runs.ContinuedAs, last.ContinuedAs} {
		n, err := st.DB().NewSelect().Model((*store.Event)(nil)).Where("task_id = ?", run).Count(ctx)
		if err != nil || n != 0 {
			t.Fatalf("task %d has %d events after a refused send (%v)", run, n, err)
		}
	}
	out := mustExecute(t, "events", "send", fmt.Sprint(last.ContinuedAs), "stop", "--payload", `"done"`, "--db", db)
	wantMatch(t, out, `^event stop sent to task `)
}
