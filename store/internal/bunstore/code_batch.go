package bunstore

import (
	"context"
	"fmt"
	"strings"

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
		values := make([]string, 0, len(steps))
		args := make([]any, 0, 2*len(steps)+1)
		seen := map[store.Lease]bool{}
		for _, p := range steps {
			if !seen[p.Driver] {
				seen[p.Driver] = true
				values = append(values, "(?, ?)")
				args = append(args, p.Driver.StepID, p.Driver.Token)
			}
		}
		args = append(args, at)
		var fenced []struct {
			ID    int64 `bun:"id"`
			Token int64 `bun:"lease_token"`
		}
		if err := tx.NewRaw(`WITH v (id, token) AS (VALUES `+strings.Join(values, ", ")+`)
			UPDATE tasker_steps SET updated_at = ?
			FROM v WHERE tasker_steps.id = v.id AND tasker_steps.state = 'in_progress' AND tasker_steps.lease_token = v.token
			RETURNING tasker_steps.id, tasker_steps.lease_token`, args...).Scan(ctx, &fenced); err != nil {
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
		if _, err := tx.NewInsert().Model(&rows).Value("next_attempt_at", "?", s.d.Time(steps[0].Now, 0)).Returning("*").Exec(ctx); err != nil {
			return err
		}
		trs := make([]store.StepTransition, 0, 2*len(rows))
		pending, running := string(store.StepPending), string(store.StepInProgress)
		for _, r := range rows {
			trs = append(trs,
				store.StepTransition{StepID: r.ID, TaskID: r.TaskID, FromState: &pending, ToState: running, SortKey: 1, CreatedAt: at},
				store.StepTransition{StepID: r.ID, TaskID: r.TaskID, FromState: &running, ToState: string(store.StepComplete), SortKey: 2, CreatedAt: at})
		}
		if _, err := tx.NewInsert().Model(&trs).Returning("NULL").Exec(ctx); err != nil {
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
