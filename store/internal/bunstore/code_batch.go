package bunstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// RecordCompletedSteps records first-attempt completions of durable steps
// in three statements for the whole group: fence every driver, insert the
// rows, insert their transitions.
func (s *Store) RecordCompletedSteps(ctx context.Context, steps []*store.RecordStepParams) ([]store.RecordedStep, error) {
	for i, p := range steps {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("recording durable steps: steps[%d]: %w", i, err)
		}
		if p.Kind != store.OutcomeComplete || p.ConsumeEvent != "" {
			return nil, fmt.Errorf("recording durable steps: steps[%d]: %w", i, &store.ValidationError{Field: "kind", Problem: "only plain completions are grouped"})
		}
	}
	out := make([]store.RecordedStep, len(steps))
	if len(steps) == 0 {
		return out, nil
	}
	err := s.inTx(ctx, "recording durable steps", func(ctx context.Context, tx bun.IDB) error {
		at := now(steps[0].Now)
		// The fence: each driver must still hold the lease it ran under.
		// (Bound statements: the database keeps them prepared.)
		b := params{s: s}
		var drivers [][]any
		seen := map[store.Lease]bool{}
		for _, p := range steps {
			if !seen[p.Driver] {
				seen[p.Driver] = true
				drivers = append(drivers, []any{p.Driver.StepID, p.Driver.Token})
			}
		}
		var fenced []struct {
			ID    int64 `bun:"id"`
			Token int64 `bun:"lease_token"`
		}
		if err := s.scan(ctx, tx, `WITH v (id, token) AS (`+b.rows([]string{"bigint", "bigint"}, drivers)+`)
			UPDATE tasker_steps SET updated_at = `+b.arg(s.d.BindTime(at))+`
			FROM v WHERE tasker_steps.id = v.id AND tasker_steps.state = 'in_progress' AND tasker_steps.lease_token = v.token
			RETURNING tasker_steps.id, tasker_steps.lease_token`, b.args, &fenced); err != nil {
			return err
		}
		live := make(map[store.Lease]bool, len(fenced))
		for _, f := range fenced {
			live[store.Lease{StepID: f.ID, Token: f.Token}] = true
		}
		var rows []*store.Step
		var index []int
		for i, p := range steps {
			if !live[p.Driver] {
				out[i].Err = fmt.Errorf("driver step %d of task %d: %w", p.Driver.StepID, p.TaskID, store.ErrLeaseLost)
				continue
			}
			limit := p.RetryLimit
			if limit == 0 {
				limit = store.DefaultRetryLimit
			}
			seq := p.Sequence
			rows = append(rows, &store.Step{
				TaskID: p.TaskID, Name: p.Name, Handler: p.Handler, Sequence: &seq, Config: p.Config, Policy: p.Policy,
				Retryable: p.Retryable, RetryLimit: limit, Attempts: 1, State: store.StepComplete, Results: orEmptyObject(p.Results),
				PendingDeps: 1, TransitionSeq: 2, StartedAt: &at, CompletedAt: &at, CreatedAt: at, UpdatedAt: at,
			})
			index = append(index, i)
		}
		if len(rows) == 0 {
			return nil
		}
		if err := s.insertRecorded(ctx, tx, rows, steps[0].Now); err != nil {
			return err
		}
		moves := make([]stepMove, 0, 2*len(rows))
		for _, r := range rows {
			moves = append(moves,
				stepMove{id: r.ID, taskID: r.TaskID, from: store.StepPending, to: store.StepInProgress, seq: 1},
				stepMove{id: r.ID, taskID: r.TaskID, from: store.StepInProgress, to: store.StepComplete, seq: 2})
		}
		if err := s.writeStepTransitions(ctx, tx, moves, at); err != nil {
			return err
		}
		for k, r := range rows {
			out[index[k]].Step = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insertRecorded inserts the rows of recorded durable steps (ready by the
// database's clock as of now) in bound multi-row statements, and sets their
// ids and next attempt times.
func (s *Store) insertRecorded(ctx context.Context, tx bun.IDB, rows []*store.Step, now time.Time) error {
	return chunked(s.d, rows, 19, func(rows []*store.Step) error {
		b := params{s: s}
		values := make([]string, len(rows))
		for i, r := range rows {
			values[i] = "(" + strings.Join([]string{b.arg(r.TaskID), b.arg(r.Name), b.arg(r.Handler), b.arg(r.Sequence),
				b.arg(nullJSON(r.Config)), b.arg(nullJSON(r.Policy)), b.arg(r.Retryable), b.arg(r.RetryLimit), b.arg(r.Attempts),
				b.arg(r.Skippable), b.arg(string(r.State)), b.arg(nullJSON(r.Results)), b.arg(r.PendingDeps), b.time(now, 0),
				b.arg(r.TransitionSeq), b.arg(s.d.BindTime(*r.StartedAt)), b.arg(s.d.BindTime(*r.CompletedAt)),
				b.arg(s.d.BindTime(r.CreatedAt)), b.arg(s.d.BindTime(r.UpdatedAt))}, ", ") + ")"
		}
		var back []struct {
			ID            int64     `bun:"id"`
			TaskID        int64     `bun:"task_id"`
			Sequence      int       `bun:"sequence"`
			NextAttemptAt time.Time `bun:"next_attempt_at"`
		}
		if err := s.scan(ctx, tx, `INSERT INTO tasker_steps (task_id, name, handler, sequence, config, policy, retryable, retry_limit, attempts,
				skippable, state, results, pending_deps, next_attempt_at, transition_seq, started_at, completed_at, created_at, updated_at)
			VALUES `+strings.Join(values, ", ")+` RETURNING id, task_id, sequence, next_attempt_at`, b.args, &back); err != nil {
			return err
		}
		type key struct {
			task int64
			seq  int
		}
		byKey := make(map[key]*store.Step, len(rows))
		for _, r := range rows {
			byKey[key{r.TaskID, *r.Sequence}] = r
		}
		for _, r := range back { // (RETURNING's order is not promised)
			if row := byKey[key{r.TaskID, r.Sequence}]; row != nil {
				row.ID, row.NextAttemptAt = r.ID, r.NextAttemptAt
			}
		}
		return nil
	})
}
