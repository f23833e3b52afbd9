package engine

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/engine/internal/batch"
	"github.com/tasker-go/tasker/store"
)

// startBatch bounds one start transaction: on SQLite the single writer is
// released between batches, so completions interleave with a stream of
// starts (or a large StartMany) instead of waiting for all of it.
const startBatch = 500

// create writes the task p describes and announces it. In the caller's
// transaction (tx set) it is written there; otherwise it joins the next
// group commit of starts: Starts made concurrently share one transaction,
// with one multi-row INSERT per table (a lone Start runs at once).
func (e *Engine) create(ctx context.Context, p *store.CreateTaskParams, tx bun.IDB) (*store.CreateTaskResult, error) {
	if tx != nil {
		p.Lease = nil // nothing may run before the caller commits
		res, err := e.st.WithTx(tx).CreateTask(ctx, p)
		if err == nil {
			e.announce([]*store.CreateTaskResult{res})
		}
		return res, err
	}
	return e.starts.Do(ctx, p)
}

// createBatch is one group commit of starts.
func (e *Engine) createBatch(ctx context.Context, ps []*store.CreateTaskParams) []batch.Result[*store.CreateTaskResult] {
	out := make([]batch.Result[*store.CreateTaskResult], len(ps))
	run, reserved := e.leaseStarts(ps)
	defer e.settleStarts(run, reserved, out)
	items, err := e.st.CreateTasks(ctx, ps)
	if err != nil && len(ps) > 1 {
		// One start may have failed the others' transaction (a
		// constraint no check foresaw): each on its own, so it fails
		// alone.
		for i, p := range ps {
			out[i].Value, out[i].Err = e.st.CreateTask(ctx, p)
		}
	} else {
		for i := range ps {
			switch {
			case err != nil:
				out[i].Err = err
			case items[i].Err != nil:
				out[i].Err = fmt.Errorf("creating task: %w", items[i].Err)
			default:
				out[i].Value = &items[i].CreateTaskResult
			}
		}
	}
	created := make([]*store.CreateTaskResult, 0, len(ps))
	wake := false // a created task has ready steps its start did not claim
	for i, r := range out {
		if r.Err == nil {
			created = append(created, r.Value)
			wake = wake || (!r.Value.Existing && len(r.Value.Claimed) < readyAtStart(ps[i]))
		}
	}
	e.record(created, wake)
	return out
}

// announce counts, reports and wakes the workers for the tasks among res
// that were created (not found by their identity).
func (e *Engine) announce(res []*store.CreateTaskResult) { e.record(res, true) }

// record counts and reports the tasks among res that were created, and
// wakes the workers when wake is set and one was.
func (e *Engine) record(res []*store.CreateTaskResult, wake bool) {
	n := 0
	for _, r := range res {
		if r != nil && !r.Existing {
			n++
			e.stat.started.Add(1)
			e.met.startedTask(r.Task)
			e.emit(Event{Name: EventTaskStarted, TaskID: r.Task.ID})
		}
	}
	if n > 0 && wake {
		e.Notify()
	}
}
