package bunstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// Code-first tasks: a driver step (no sequence) that workers claim like any
// step, and durable step rows (with a sequence) that only the driver writes,
// through RecordStep. Durable rows carry pending_deps = 1 and no edge, so
// no claim and no wake-up scan ever picks them; their next_attempt_at is the
// time the driver may move past them (a retry's backoff, a sleep's wake-up,
// an event wait's deadline).
//
// A durable row that failed for good (error) does not fail its task, and no
// longer counts as unfinished: the workflow decides what the failure means
// (it may compensate and complete). If it does not handle it, the driver
// fails, and the task with it; RetryTask then gives that one row fresh
// attempts (RetryTaskParams.Sequence), and ResolveStep counts it back.

// wakeOnEvent makes a just-suspended step ready now when an unconsumed
// event of one of those names waits for its task. It runs in the suspending
// transaction, after the row is locked: an event committed earlier is seen
// here; one committed later finds the step pending and wakes it (WakeTask).
func wakeOnEvent(ctx context.Context, tx bun.IDB, d Dialect, clock time.Time, stepID int64, names []string) error {
	_, err := tx.NewRaw(`UPDATE tasker_steps SET next_attempt_at = ? WHERE id = ? AND EXISTS (
			SELECT 1 FROM tasker_events ev WHERE ev.task_id = tasker_steps.task_id AND ev.name IN (?) AND ev.consumed_at IS NULL)`,
		d.Time(clock, 0), stepID, bun.List(names)).Exec(ctx)
	return err
}

// wakeOnTask makes a suspending step ready now when one of the tasks it
// waits for (its children) has already finished: a child that finished
// while the suspension was being committed found the step still running
// and could not wake it (wakeParents).
func wakeOnTask(ctx context.Context, tx bun.IDB, d Dialect, clock time.Time, stepID int64, tasks []int64) error {
	_, err := tx.NewRaw(`UPDATE tasker_steps SET next_attempt_at = ? WHERE id = ? AND EXISTS (
			SELECT 1 FROM tasker_tasks t WHERE t.id IN (?) AND t.state IN ('complete', 'error', 'cancelled', 'resolved_manually'))`,
		d.Time(clock, 0), stepID, bun.List(tasks)).Exec(ctx)
	return err
}

// RecordStep writes one durable step's outcome, fenced on the driver's lease.
func (s *Store) RecordStep(ctx context.Context, p *store.RecordStepParams) (*store.Step, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("recording durable step: %w", err)
	}
	var out *store.Step
	err := s.inTx(ctx, fmt.Sprintf("recording step %d of task %d", p.Sequence, p.TaskID), func(ctx context.Context, tx bun.IDB) error {
		at := now(p.Now)
		// The fence: the driver row, locked (Postgres), so a cancel or a
		// rescue serialises with this write (see fenceSQL).
		var fenced []int64
		if err := tx.NewRaw(`SELECT id FROM tasker_steps
			WHERE id = ? AND task_id = ? AND state = 'in_progress' AND lease_token = ?`+s.d.LockRows(),
			p.Driver.StepID, p.TaskID, p.Driver.Token).Scan(ctx, &fenced); err != nil {
			return err
		}
		if len(fenced) == 0 {
			return fmt.Errorf("driver step %d of task %d: %w", p.Driver.StepID, p.TaskID, store.ErrLeaseLost)
		}
		var rows []*store.Step
		if err := tx.NewSelect().Model(&rows).Where("task_id = ? AND sequence = ?", p.TaskID, p.Sequence).Scan(ctx); err != nil {
			return err
		}
		var cur *store.Step
		if len(rows) == 1 {
			cur = rows[0]
			if cur.Name != p.Name {
				return fmt.Errorf("task %d sequence %d is step %q, not %q: %w", p.TaskID, p.Sequence, cur.Name, p.Name, store.ErrConflict)
			}
			if cur.State != store.StepPending {
				return fmt.Errorf("task %d sequence %d (%s) is already %s: %w", p.TaskID, p.Sequence, p.Name, cur.State, store.ErrConflict)
			}
		}
		if p.Attempt > 0 {
			had := 0
			if cur != nil {
				had = cur.Attempts
			}
			if had != p.Attempt-1 {
				return fmt.Errorf("task %d sequence %d (%s) has %d attempts recorded, so this is not attempt %d: %w", p.TaskID, p.Sequence, p.Name, had, p.Attempt, store.ErrConflict)
			}
		}
		kind, results := p.Kind, p.Results
		if p.ConsumeEvent != "" {
			var evs []*store.Event
			if err := tx.NewRaw(`UPDATE tasker_events SET consumed_at = ? WHERE consumed_at IS NULL AND id = (
					SELECT id FROM tasker_events WHERE task_id = ? AND name = ? AND consumed_at IS NULL ORDER BY id LIMIT 1)
				RETURNING *`, at, p.TaskID, p.ConsumeEvent).Scan(ctx, &evs); err != nil {
				return err
			}
			if len(evs) == 1 {
				ev := evs[0]
				payload := json.RawMessage(ev.Payload)
				if len(payload) == 0 {
					payload = json.RawMessage("null")
				}
				doc, err := json.Marshal(struct {
					EventID int64           `json:"event_id"`
					Name    string          `json:"name"`
					Key     string          `json:"key"`
					Payload json.RawMessage `json:"payload"`
				}{ev.ID, ev.Name, ev.Key, payload})
				if err != nil {
					return err
				}
				kind, results = store.OutcomeComplete, doc
			}
		}
		if kind == store.OutcomeSuspend && cur != nil {
			out = cur // already waiting: its first wake time holds
			return nil
		}
		limit := p.RetryLimit
		if limit == 0 {
			limit = store.DefaultRetryLimit
		}
		attempts, seq := 0, 0
		if cur != nil {
			attempts, seq = cur.Attempts, cur.TransitionSeq
		}
		var target store.StepState
		switch kind {
		case store.OutcomeComplete:
			target = store.StepComplete
		case store.OutcomeRetry:
			target = store.StepError
			if p.Retryable && attempts+1 < limit {
				target = store.StepPending
			}
		case store.OutcomeFail:
			target = store.StepError
		case store.OutcomeSuspend:
			target = store.StepPending
		}
		var path []store.StepState // the states the row passes through
		if kind != store.OutcomeSuspend {
			attempts++
			path = []store.StepState{store.StepPending, store.StepInProgress, target}
		}
		nextAt := s.d.Time(p.Now, 0)
		if target == store.StepPending {
			nextAt = s.d.Time(p.Now, p.RetryAfter)
		}
		var completedAt, startedAt *time.Time
		if target == store.StepComplete {
			completedAt = &at
		}
		if attempts > 0 {
			started := at.Add(-p.Ran) // the attempt's start (RecordStepParams.Ran)
			startedAt = &started
		}
		meta := p.Error
		if target == store.StepPending && kind == store.OutcomeSuspend {
			meta = store.JSON(`{"reason":"waiting"}`)
		}
		unfinished := 0
		row := new(store.Step)
		if cur == nil {
			row = &store.Step{
				TaskID: p.TaskID, Name: p.Name, Handler: p.Handler, Sequence: &p.Sequence, Config: p.Config, Policy: p.Policy,
				Retryable: p.Retryable, RetryLimit: limit, Attempts: attempts, State: target, Results: results, LastError: p.Error,
				PendingDeps: 1, TransitionSeq: max(0, len(path)-1), StartedAt: startedAt, CompletedAt: completedAt, CreatedAt: at, UpdatedAt: at,
			}
			if _, err := tx.NewInsert().Model(row).Value("next_attempt_at", "?", nextAt).Returning("*").Exec(ctx); err != nil {
				return err
			}
			if target == store.StepPending {
				unfinished = 1
			}
		} else {
			var got []*store.Step
			if err := tx.NewRaw(`UPDATE tasker_steps SET state = ?, attempts = ?, results = COALESCE(?, results),
					last_error = COALESCE(?, last_error), next_attempt_at = ?, transition_seq = transition_seq + ?,
					started_at = COALESCE(?, started_at), completed_at = ?, updated_at = ?
				WHERE id = ? AND state = 'pending' RETURNING *`,
				target, attempts, results, p.Error, nextAt, len(path)-1, startedAt, completedAt, at, cur.ID).Scan(ctx, &got); err != nil {
				return err
			}
			if len(got) == 0 {
				return fmt.Errorf("step %d changed while it was recorded: %w", cur.ID, store.ErrConflict)
			}
			row = got[0]
			if target != store.StepPending {
				unfinished = -1
			}
		}
		if unfinished != 0 {
			if _, err := tx.NewRaw(`UPDATE tasker_tasks SET unfinished = unfinished + ?, updated_at = ? WHERE id = ?`,
				unfinished, at, p.TaskID).Exec(ctx); err != nil {
				return err
			}
		}
		if err := writePath(ctx, tx, row.ID, p.TaskID, path, seq, meta, at); err != nil {
			return err
		}
		out = row
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// writePath appends the transitions of a row that moved through path
// (pending → in_progress → target) in one write, after sort key base.
func writePath(ctx context.Context, tx bun.IDB, stepID, taskID int64, path []store.StepState, base int, meta store.JSON, at time.Time) error {
	if len(path) < 2 {
		return nil
	}
	rows := make([]store.StepTransition, len(path)-1)
	for i := range rows {
		from := string(path[i])
		rows[i] = store.StepTransition{StepID: stepID, TaskID: taskID, FromState: &from, ToState: string(path[i+1]),
			SortKey: base + i + 1, CreatedAt: at}
		if i == len(rows)-1 && path[i+1] != store.StepComplete {
			rows[i].Metadata = meta
		}
	}
	_, err := tx.NewInsert().Model(&rows).Returning("NULL").Exec(ctx)
	return err
}

// WakeTask makes the task's delayed ready steps claimable now, unless the
// task has not started: its steps then wait for its delayed start
// (NewStep.NotBefore, engine.StartAt), which an event sent early must not
// bring forward; the workflow finds the event once it starts.
//
// Called in the transaction that sent an event, it first touches the
// task's running and ready steps (a driver about to suspend, or about to
// be claimed): on Postgres that waits for a suspension or a claim being
// committed, so the update below sees the driver pending, or makes the
// suspension wait for this transaction, so its wakeOnEvent sees the
// event, and a claim pass the driver by until this transaction ends, so
// the run it starts sees the event. Without it, a suspension and a send
// committing at the same moment could each miss the other, and the
// workflow would sleep through its event; a ready driver, untouched, was
// claimed while the send was open, and its run suspended in that window.
// (SQLite has one writer.)
func (s *Store) WakeTask(ctx context.Context, p *store.WakeTaskParams) (bool, error) {
	if p == nil { // the usual wrap names a field of p
		return false, fmt.Errorf("waking task: %w", p.Validate())
	}
	if err := p.Validate(); err != nil {
		return false, fmt.Errorf("waking task %d: %w", p.TaskID, err)
	}
	if _, err := s.rw.NewRaw(`UPDATE tasker_steps SET updated_at = updated_at
		WHERE task_id = ? AND state IN ('pending', 'in_progress') AND pending_deps = 0`, p.TaskID).Exec(ctx); err != nil {
		return false, s.wrap(fmt.Sprintf("waking task %d", p.TaskID), err)
	}
	res, err := s.rw.NewRaw(`UPDATE tasker_steps SET next_attempt_at = ?0
		WHERE task_id = ?1 AND state = 'pending' AND pending_deps = 0 AND next_attempt_at > ?0
		AND EXISTS (SELECT 1 FROM tasker_tasks WHERE id = ?1 AND state <> 'pending')`,
		s.d.Time(p.Now, 0), p.TaskID).Exec(ctx)
	if err != nil {
		return false, s.wrap(fmt.Sprintf("waking task %d", p.TaskID), err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}
