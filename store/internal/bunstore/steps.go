package bunstore

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// GetStep returns one step.
func (s *Store) GetStep(ctx context.Context, id int64) (*store.Step, error) {
	if err := store.CheckStepID("id", id); err != nil {
		return nil, fmt.Errorf("getting step %d: %w", id, err)
	}
	st := new(store.Step)
	if err := s.ro.NewSelect().Model(st).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, s.wrap(fmt.Sprintf("getting step %d", id), err)
	}
	return st, nil
}

// TransitionStep moves one step through the state machine with compare and
// set on From. Moving to in_progress requires every dependency satisfied
// (and leases nothing: workers use ClaimSteps); moving to complete or
// resolved_manually counts down dependants and may complete the task; moving
// to error fails the task.
func (s *Store) TransitionStep(ctx context.Context, p *store.TransitionStepParams) (*store.Step, error) {
	if p == nil { // the usual wrap names a field of p
		return nil, fmt.Errorf("transitioning step: %w", p.Validate())
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("transitioning step %d: %w", p.StepID, err)
	}
	if err := store.CheckStepTransition(p.StepID, p.From, p.To); err != nil {
		return nil, err
	}
	var out *store.Step
	err := s.inTx(ctx, fmt.Sprintf("transitioning step %d", p.StepID), func(ctx context.Context, tx bun.IDB) error {
		var err error
		out, _, err = s.moveStep(ctx, tx, p.StepID, p.From, p.To, nil, p.Metadata, now(p.Now))
		return err
	})
	return out, err
}

// ResolveStep resolves a pending or failed step by hand with results. When
// that leaves its failed task with no failed step, the task goes back to
// pending so workers carry on; when it was the last unfinished step, the
// task completes. The driver of a code-first task in error resolves the
// workflow as a whole (resolveWorkflow).
func (s *Store) ResolveStep(ctx context.Context, p *store.ResolveStepParams) (*store.ResolveStepResult, error) {
	if p == nil { // the usual wrap names a field of p
		return nil, fmt.Errorf("resolving step: %w", p.Validate())
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("resolving step %d: %w", p.StepID, err)
	}
	var out *store.ResolveStepResult
	err := s.inTx(ctx, fmt.Sprintf("resolving step %d", p.StepID), func(ctx context.Context, tx bun.IDB) error {
		cur := new(store.Step)
		if err := tx.NewSelect().Model(cur).Column("state", "task_id", "sequence").Where("id = ?", p.StepID).Scan(ctx); err != nil {
			return err
		}
		if err := store.CheckStepTransition(p.StepID, cur.State, store.StepResolvedManually); err != nil {
			return err
		}
		// A finished task's step stays as it is: a durable step whose
		// failure the workflow handled before completing was counted back
		// as unfinished below, and the task completed a second time.
		task := new(store.Task)
		if err := tx.NewSelect().Model(task).Column("state", "kind").Where("id = ?", cur.TaskID).Scan(ctx); err != nil {
			return err
		}
		if task.State.Terminal() {
			return &store.TransitionError{Object: "step", ID: p.StepID, From: string(cur.State), To: string(store.StepResolvedManually),
				Reason: fmt.Sprintf("its task %d is %s", cur.TaskID, task.State)}
		}
		at := now(p.Now)
		if task.Kind == store.KindCode && cur.Sequence == nil && task.State == store.TaskError {
			var err error
			out, err = s.resolveWorkflow(ctx, tx, p, cur, at)
			return err
		}
		if cur.Sequence != nil && cur.State == store.StepError {
			// A failed durable row no longer counts as unfinished (see
			// RecordStep); count it back before the move counts it down.
			if _, err := tx.NewRaw(`UPDATE tasker_tasks SET unfinished = unfinished + 1 WHERE id = ?`, cur.TaskID).Exec(ctx); err != nil {
				return err
			}
		}
		st, moved, err := s.moveStep(ctx, tx, p.StepID, cur.State, store.StepResolvedManually, orEmptyObject(p.Results), p.Metadata, at)
		if err != nil {
			return err
		}
		settled, err := s.settleTask(ctx, tx, st.TaskID, p.Metadata, at)
		if err != nil {
			return err
		}
		out = &store.ResolveStepResult{Step: st}
		for _, m := range append(moved, settled...) {
			out.Tasks = append(out.Tasks, store.TaskChange{TaskID: m.id, From: m.from, To: m.to})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// resolveWorkflow resolves a failed code-first task as a whole, its driver
// (cur) given the operator's results, which are the workflow's return
// value: the task moves error → resolved_manually, finished. Settling it
// as a step's resolve does would leave it in error (a durable failure it
// recorded stays) or send it back to pending, where no one runs a resolved
// driver: nothing else closes such a task (it is not cancelled, and a
// retry of one past its deadline fails again at once). Its unfinished
// durable rows (a sleep, an event wait) are cancelled; the failures it
// recorded stay as they are, for the record.
func (s *Store) resolveWorkflow(ctx context.Context, tx bun.IDB, p *store.ResolveStepParams, cur *store.Step, at time.Time) (*store.ResolveStepResult, error) {
	st, _, err := s.moveStep(ctx, tx, p.StepID, cur.State, store.StepResolvedManually, orEmptyObject(p.Results), p.Metadata, at)
	if err != nil {
		return nil, err
	}
	meta := consequenceMeta(p.Metadata, "workflow resolved manually")
	if err := s.cancelSteps(ctx, tx, cur.TaskID, []store.StepState{store.StepPending, store.StepInProgress}, meta, at); err != nil {
		return nil, err
	}
	if _, err := s.moveTask(ctx, tx, &store.TransitionTaskParams{TaskID: cur.TaskID, From: store.TaskError, To: store.TaskResolvedManually, Metadata: meta}, at); err != nil {
		return nil, err
	}
	if _, err := tx.NewRaw(`UPDATE tasker_tasks SET unfinished = 0 WHERE id = ?`, cur.TaskID).Exec(ctx); err != nil {
		return nil, err
	}
	if err := wakeParents(ctx, tx, []int64{cur.TaskID}, at); err != nil {
		return nil, err
	}
	return &store.ResolveStepResult{Step: st, Tasks: []store.TaskChange{{TaskID: cur.TaskID, From: store.TaskError, To: store.TaskResolvedManually}}}, nil
}

// moveStep is the compare-and-set of one step move, its audit row and its
// consequences. results, when set, replace the step's results.
func (s *Store) moveStep(ctx context.Context, tx bun.IDB, id int64, from, to store.StepState, results, meta store.JSON, at time.Time) (*store.Step, []taskMove, error) {
	st := new(store.Step)
	q := tx.NewUpdate().Model(st).
		Set("state = ?", to).
		Set("updated_at = ?", at).
		Set("transition_seq = transition_seq + 1").
		Where("id = ?", id).
		Where("state = ?", from).
		Returning("*")
	if to == store.StepInProgress {
		q = q.Where("pending_deps = 0").Set("started_at = ?", at).Set("attempts = attempts + 1")
	}
	if from == store.StepInProgress {
		q = q.Set("lease_owner = NULL").Set("lease_expires_at = NULL").Set("lease_token = NULL")
	}
	if to.Satisfied() {
		q = q.Set("completed_at = ?", at)
	}
	if results != nil {
		q = q.Set("results = ?", results)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return nil, nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		cur := new(store.Step)
		if err := tx.NewSelect().Model(cur).Column("state", "pending_deps").Where("id = ?", id).Scan(ctx); err != nil {
			return nil, nil, fmt.Errorf("step %d: %w", id, err)
		}
		if cur.State != from {
			return nil, nil, fmt.Errorf("step %d: expected state %s, found %s: %w", id, from, cur.State, store.ErrConflict)
		}
		return nil, nil, &store.TransitionError{Object: "step", ID: id, From: string(from), To: string(to),
			Reason: fmt.Sprintf("%d dependencies are not complete or resolved", cur.PendingDeps)}
	}
	m := []stepMove{{id: st.ID, taskID: st.TaskID, from: from, to: to, seq: st.TransitionSeq, meta: meta}}
	if err := s.writeStepTransitions(ctx, tx, m, at); err != nil {
		return nil, nil, err
	}
	tm, _, err := s.consequences(ctx, tx, m, at, nil)
	return st, tm, err
}

// settleTask brings a task in line with its steps after an operator acted:
// a failed task with no failed step left returns to pending; a task with no
// unfinished step completes (through in_progress, as the machine requires).
// Its moves carry the operator's metadata (meta) with their own reason; it
// returns them.
func (s *Store) settleTask(ctx context.Context, tx bun.IDB, id int64, meta store.JSON, at time.Time) ([]taskMove, error) {
	t := new(store.Task)
	if err := tx.NewSelect().Model(t).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, err
	}
	failed, err := tx.NewSelect().Model((*store.Step)(nil)).Where("task_id = ? AND state = 'error'", id).Count(ctx)
	if err != nil {
		return nil, err
	}
	path := []store.TaskState{}
	state := t.State
	if state == store.TaskError && failed == 0 {
		path = append(path, store.TaskPending)
		state = store.TaskPending
	}
	if t.Unfinished == 0 && (state == store.TaskPending || state == store.TaskInProgress) {
		if state == store.TaskPending {
			path = append(path, store.TaskInProgress)
		}
		path = append(path, store.TaskComplete)
	}
	var moves []taskMove
	from := t.State
	for _, to := range path {
		if _, err := s.moveTask(ctx, tx, &store.TransitionTaskParams{TaskID: id, From: from, To: to, Metadata: consequenceMeta(meta, "step resolved manually")}, at); err != nil {
			return nil, err
		}
		moves = append(moves, taskMove{id: id, from: from, to: to})
		from = to
	}
	return moves, nil
}
