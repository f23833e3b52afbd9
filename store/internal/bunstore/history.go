package bunstore

import (
	"context"
	"fmt"

	"github.com/tasker-go/tasker/store"
)

// replayColumns are the step columns a code-first replay reads: a resume
// loads every recorded step, and on SQLite decoding the unused time columns
// of a thousand rows cost more than the replay itself.
var replayColumns = []string{"id", "task_id", "name", "handler", "sequence", "state", "attempts", "results", "last_error", "next_attempt_at"}

// GetWorkflowHistory reads a task and, of its steps, what a replay needs.
func (s *Store) GetWorkflowHistory(ctx context.Context, id int64) (*store.TaskDetail, error) {
	if err := store.CheckTaskID("id", id); err != nil {
		return nil, fmt.Errorf("getting task %d: %w", id, err)
	}
	d := &store.TaskDetail{Task: new(store.Task)}
	if err := s.ro.NewSelect().Model(d.Task).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, s.wrap(fmt.Sprintf("getting task %d", id), err)
	}
	if err := s.ro.NewSelect().Model(&d.Steps).Column(replayColumns...).Where("task_id = ?", id).Order("id").Scan(ctx); err != nil {
		return nil, s.wrap(fmt.Sprintf("getting the history of task %d", id), err)
	}
	return d, nil
}
