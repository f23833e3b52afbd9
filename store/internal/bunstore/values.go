package bunstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// SetWorkflowValue publishes a code-first workflow's value under its
// driver's lease: query state replaces a value of a lower or equal
// sequence (a replay re-setting an older value changes nothing); a reply
// is written once, and a second write of the same reply changes nothing.
func (s *Store) SetWorkflowValue(ctx context.Context, p *store.SetWorkflowValueParams) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("setting workflow value: %w", err)
	}
	return s.inTx(ctx, fmt.Sprintf("setting %s %q of task %d", p.Kind, p.Name, p.TaskID), func(ctx context.Context, tx bun.IDB) error {
		at := now(p.Now)
		var fenced []int64
		// The fence, as in RecordStep: the driver row, locked (fenceSQL).
		if err := tx.NewRaw(`SELECT id FROM tasker_steps
			WHERE id = ? AND task_id = ? AND state = 'in_progress' AND lease_token = ?`+s.d.LockRows(),
			p.Driver.StepID, p.TaskID, p.Driver.Token).Scan(ctx, &fenced); err != nil {
			return err
		}
		if len(fenced) == 0 {
			return fmt.Errorf("driver step %d of task %d: %w", p.Driver.StepID, p.TaskID, store.ErrLeaseLost)
		}
		onConflict := `DO UPDATE SET value = excluded.value, seq = excluded.seq, updated_at = excluded.updated_at
			WHERE tasker_workflow_values.seq <= excluded.seq`
		if p.Kind == store.ValueReply {
			onConflict = "DO NOTHING"
		}
		_, err := tx.NewRaw(`INSERT INTO tasker_workflow_values (task_id, kind, name, seq, value, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, kind, name) `+onConflict,
			p.TaskID, p.Kind, p.Name, p.Seq, p.Value, at).Exec(ctx)
		return err
	})
}

// GetWorkflowValue reads one published value.
func (s *Store) GetWorkflowValue(ctx context.Context, taskID int64, kind, name string) (*store.WorkflowValue, error) {
	// A value SetWorkflowValue would refuse is never there: refused here
	// too, not reported as not set yet.
	errs := []error{store.CheckTaskID("task_id", taskID)}
	if kind != store.ValueQuery && kind != store.ValueReply {
		errs = append(errs, &store.ValidationError{Field: "kind", Problem: fmt.Sprintf("must be %q or %q, got %q", store.ValueQuery, store.ValueReply, kind)})
	}
	errs = append(errs, store.CheckName("name", name))
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("reading a workflow value of task %d: %w", taskID, err)
	}
	v := new(store.WorkflowValue)
	err := s.ro.NewSelect().Model(v).Where("task_id = ? AND kind = ? AND name = ?", taskID, kind, name).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %q of task %d: %w", kind, name, taskID, store.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("reading %s %q of task %d", kind, name, taskID), err)
	}
	return v, nil
}
