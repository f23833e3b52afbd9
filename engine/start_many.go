package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// StartRequest is one workflow to start with StartMany.
type StartRequest struct {
	// Workflow is a registered DAG template ("namespace/name[@version]")
	// or code-first workflow ("namespace/name"). For a code-first workflow
	// Input must be of the type it was registered with (else
	// ErrTypeMismatch): the typed handle is GetWorkflow[O](e, id).
	Workflow string
	Input    any
	Options  []StartOption // per item (InTx is not allowed here: see StartMany)
}

// StartResult is what became of one StartRequest: a handle, or the error
// that refused it (nothing was written for it).
type StartResult struct {
	Handle *TaskHandle
	Err    error
}

// startManyChunk bounds one transaction of StartMany: on SQLite the single
// writer is released between chunks, so completions interleave with a
// large bulk start instead of waiting for all of it.
const startManyChunk = 500

// StartMany starts many workflows in few transactions (one per 500
// items) and wakes the workers once. Each item is checked and created on
// its own: an invalid input, an unknown template or an identity conflict
// fails only that item, reported in its StartResult by the same index,
// and the others are created (an item whose identity exists already
// returns that task, Existing set, as Start does). The error is for the
// call as a whole (the database failed); items of chunks already committed
// then exist.
//
// With opts containing InTx(tx), every item is created inside the caller's
// transaction (one chunk): nothing exists unless it commits.
func (e *Engine) StartMany(ctx context.Context, reqs []StartRequest, opts ...StartOption) ([]StartResult, error) {
	var common startOptions
	for _, opt := range opts {
		opt(&common)
	}
	out := make([]StartResult, len(reqs))
	params := make([]*store.CreateTaskParams, len(reqs))
	for i, r := range reqs {
		o := common
		for _, opt := range r.Options {
			opt(&o)
		}
		if o.tx != nil && common.tx == nil {
			out[i].Err = fmt.Errorf("starting item %d: InTx applies to the whole StartMany, not to one item", i)
			continue
		}
		var p *store.CreateTaskParams
		var err error
		if def, code := e.workflowDef(r.Workflow); code {
			if got := reflect.TypeOf(r.Input); got != def.in {
				err = fmt.Errorf("%w: its input type is %s, not %v", ErrTypeMismatch, def.in, got)
			} else {
				p, err = e.prepareWorkflowStart(r.Workflow, r.Input, &o)
			}
		} else {
			p, err = e.prepareStart(r.Workflow, r.Input, &o)
		}
		if err != nil { // (the store's own checks run in CreateTask, before any SQL)
			out[i].Err = fmt.Errorf("starting item %d (%s): %w", i, r.Workflow, err)
			continue
		}
		params[i] = p
	}
	created := 0
	create := func(ctx context.Context, tx bun.IDB, from, to int) error {
		st := e.st.WithTx(tx)
		for i := from; i < to; i++ {
			if params[i] == nil {
				continue
			}
			res, err := st.CreateTask(ctx, params[i]) // its own savepoint
			switch {
			case err == nil:
				out[i].Handle = &TaskHandle{TaskID: res.Task.ID, Existing: res.Existing, identity: params[i].IdentityKey, e: e}
			case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrInvalid):
				out[i].Err = fmt.Errorf("starting item %d (%s): %w", i, reqs[i].Workflow, err)
			default:
				return fmt.Errorf("starting item %d (%s): %w", i, reqs[i].Workflow, err)
			}
		}
		return nil
	}
	announce := func(from, to int) {
		for i := from; i < to; i++ {
			if h := out[i].Handle; h != nil && !h.Existing {
				created++
				e.stat.started.Add(1)
				e.emit(Event{Name: EventTaskStarted, TaskID: h.TaskID})
			}
		}
	}
	if common.tx != nil {
		if err := create(ctx, common.tx, 0, len(reqs)); err != nil {
			return out, err
		}
		announce(0, len(reqs))
	} else {
		for from := 0; from < len(reqs); from += startManyChunk {
			to := min(from+startManyChunk, len(reqs))
			err := e.st.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error { return create(ctx, tx, from, to) })
			if err != nil {
				for i := from; i < to; i++ {
					out[i].Handle = nil // rolled back
				}
				return out, err
			}
			announce(from, to)
		}
	}
	if created > 0 {
		e.Notify()
	}
	return out, nil
}
