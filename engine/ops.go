package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tasker-go/tasker/store"
)

// Cancel cancels a task: its unfinished steps are cancelled, running
// handlers here see their context cancelled, and no new attempt starts.
// Handlers in other processes stop at their next heartbeat.
func (e *Engine) Cancel(ctx context.Context, taskID int64, reason string) error {
	meta, _ := json.Marshal(map[string]string{"reason": reason})
	if _, err := e.st.CancelTask(ctx, &store.CancelTaskParams{TaskID: taskID, Metadata: meta, Now: e.now()}); err != nil {
		return fmt.Errorf("cancelling task %d: %w", taskID, err)
	}
	e.inflight.CancelTask(taskID, errTaskCancelled)
	e.emit(Event{Name: EventTaskCancelled, TaskID: taskID})
	e.taskChanged(taskID)
	return e.cancelChildren(ctx, taskID, reason)
}

// Retry moves a task in error back to pending; its failed steps get fresh
// attempts.
func (e *Engine) Retry(ctx context.Context, taskID int64) error {
	if _, err := e.st.RetryTask(ctx, &store.RetryTaskParams{TaskID: taskID, Metadata: store.JSON(`{"reason":"operator retry"}`), Now: e.now()}); err != nil {
		return fmt.Errorf("retrying task %d: %w", taskID, err)
	}
	e.emit(Event{Name: EventTaskRetried, TaskID: taskID})
	e.Notify()
	return nil
}

// Resolve marks a pending or failed step resolved_manually with the given
// results (any JSON-encodable value); its dependants may then run.
func (e *Engine) Resolve(ctx context.Context, taskID int64, step string, results any) error {
	d, err := e.st.GetTask(ctx, taskID)
	if err != nil {
		return fmt.Errorf("resolving %s of task %d: %w", step, taskID, err)
	}
	s := d.Step(step)
	if s == nil {
		return fmt.Errorf("resolving %s of task %d: %w: no such step", step, taskID, store.ErrNotFound)
	}
	doc, err := json.Marshal(results)
	if err != nil {
		return fmt.Errorf("resolving %s of task %d: encoding results: %w", step, taskID, err)
	}
	if _, err := e.st.ResolveStep(ctx, &store.ResolveStepParams{StepID: s.ID, Results: doc, Metadata: store.JSON(`{"reason":"operator resolved"}`), Now: e.now()}); err != nil {
		return fmt.Errorf("resolving %s of task %d: %w", step, taskID, err)
	}
	e.emit(Event{Name: EventStepResolved, TaskID: taskID, Step: step})
	e.taskChanged(taskID)
	e.Notify()
	return nil
}
