package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// A finished task its retention deleted before a Wait read it: a handle
// of the Start in this process still has its outcome (it kept it as the
// task finished), and a Wait by id (another process, a handle made by
// GetWorkflow) is store.ErrNotFound saying the retention may have deleted
// it; it read "reading task 1: not found", as for an id never used.
func TestWaitForATaskItsRetentionDeletedSaysSo(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	runner := newEngine(t, engine.Config{Store: s, Execution: engine.ExecutionConfig{Retention: 2 * time.Second}})
	must(t, runner.HandleFunc("a", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, runner.Register(&engine.Template{Namespace: "t", Name: "quick", Steps: []engine.StepTemplate{{Name: "a", Handler: "a"}}}))
	h, err := runner.Start(ctx, "t/quick", nil)
	must(t, err)
	_, err = runner.RunOnce(ctx)
	must(t, err)
	// The maintenance pass once the retention has passed.
	later := time.Now().Add(3 * time.Second)
	n, err := s.DeleteFinished(ctx, &store.DeleteFinishedParams{Before: later.Add(-2 * time.Second), Now: later})
	must(t, err)
	if n != 1 {
		t.Fatalf("the retention pass deleted %d tasks, want the finished one", n)
	}
	out, err := h.Wait(ctx)
	if err != nil || out.State != store.TaskComplete {
		t.Fatalf("the Start's handle after the task was deleted: %v, %v; want the outcome it kept", out, err)
	}
	reader := newEngine(t, engine.Config{Store: s})
	_, err = reader.Wait(ctx, h.TaskID)
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "retention") {
		t.Fatalf("Wait for the deleted task from another engine: %v; want store.ErrNotFound saying its retention may have deleted it", err)
	}
}
