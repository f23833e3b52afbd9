package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"go.opentelemetry.io/otel/trace"

	"github.com/tasker-go/tasker/engine/internal/waiters"
	"github.com/tasker-go/tasker/store"
)

// StartRequest is one workflow to start with StartMany.
type StartRequest struct {
	// Workflow is a registered DAG template ("namespace/name[@version]")
	// or code-first workflow ("namespace/name"). For a code-first workflow
	// Input must be of the type it was registered with, or assignable to
	// it (any value for an input of type any; nil for a pointer), else
	// ErrTypeMismatch: the typed handle is GetWorkflow[O](e, id).
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

// StartMany starts many workflows in few transactions: one per 500 items,
// each with one multi-row INSERT per table, each followed by a wake-up of
// the workers (on SQLite the single writer is released between them, so
// running workflows keep completing during a large bulk start).
//
// Each item is checked and created on its own: an invalid input, an
// unknown template or an identity conflict fails only that item, reported
// in its StartResult by the same index, and the others are created. An
// item whose identity exists already returns that task, Existing set, as
// Start does; so does an item repeating an earlier item's identity (with
// the same input; with another input it is a conflict). A chunk whose
// transaction the database refuses (an item breaking a constraint no check
// foresees) is retried item by item, so that item fails alone, as in
// Start. The error is for the call as a whole (the database failed: a
// transient error, or ctx ended); items already committed then exist.
//
// With opts containing InTx(tx), every item is created inside the caller's
// transaction (one chunk): nothing exists unless it commits (then call
// Notify, as after Start with InTx: see InTx). opts apply to
// every item, so WithIdempotencyKey among them is refused (store.ErrInvalid)
// before anything is written: give a key in an item's Options.
// WithIdentityReuse is not supported: among opts it refuses the call the
// same way, in an item's Options it fails that item. Any other mistake in
// opts (an empty queue, a priority out of range, an option given twice
// with different values) refuses the call too, before anything is written;
// in an item's Options it fails that item. An item's option
// replaces the same option in opts (WithQueue("urgent") in an item of a
// StartMany given WithQueue("bulk")); one given twice in an item's Options
// with different values fails that item, as it does in Start.
func (e *Engine) StartMany(ctx context.Context, reqs []StartRequest, opts ...StartOption) ([]StartResult, error) {
	var common startOptions
	if err := applyStartOptions(&common, opts); err != nil {
		return nil, fmt.Errorf("starting many: %w", err)
	}
	if common.keySet {
		// Every item would take the one key: the first item's task, found
		// or refused as a conflict by all the others.
		return nil, fmt.Errorf("starting many: %w: WithIdempotencyKey(%s) given to StartMany applies to every item, which would all take the one key: give it in an item's StartRequest.Options", store.ErrInvalid, quoteName(common.key))
	}
	if common.reuseSet {
		// Every item would be refused on its own (below).
		return nil, fmt.Errorf("starting many: %w: WithIdentityReuse(%d) given to StartMany: StartMany does not support WithIdentityReuse; start such tasks with Start or StartWorkflow", store.ErrInvalid, common.reuse)
	}
	// A mistake in the shared options (WithQueue(""), a priority out of
	// range, StartAfter(-time.Second), one given twice) is the call's:
	// every item would fail with it on its own, each result repeating it.
	if err := common.check(); err != nil {
		return nil, fmt.Errorf("starting many: %w", err)
	}
	if _, err := common.notBefore(e.clk); err != nil {
		return nil, fmt.Errorf("starting many: %w", err)
	}
	if _, err := common.deadline(e.clk); err != nil { // a timeout past the delay's end
		return nil, fmt.Errorf("starting many: %w", err)
	}
	out := make([]StartResult, len(reqs))
	params := make([]*store.CreateTaskParams, len(reqs))
	for i, r := range reqs {
		o := common
		if err := o.overrideWith(r.Options); err != nil {
			out[i].Err = fmt.Errorf("starting item %d (%s): %w", i, r.Workflow, err)
			continue
		}
		if o.txSet && !common.txSet {
			out[i].Err = fmt.Errorf("starting item %d: %w: InTx applies to the whole StartMany, not to one item", i, store.ErrInvalid)
			continue
		}
		if o.reuseSet {
			out[i].Err = fmt.Errorf("starting item %d: %w: StartMany does not support WithIdentityReuse", i, store.ErrInvalid)
			continue
		}
		var p *store.CreateTaskParams
		var err error
		if def, code := e.workflowDef(r.Workflow); code {
			// What StartWorkflow takes: a value of an interface input
			// type holds another type, a nil fits a pointer one.
			if got := reflect.TypeOf(r.Input); got == nil && !nilable(def.in) || got != nil && !got.AssignableTo(def.in) {
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
	// One span for the call; every task it creates continues its trace.
	ctx, span := e.tracer.Start(ctx, "tasker.start_many", trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	if tc := traceparent(span.SpanContext()); tc != "" {
		for _, p := range params {
			if p != nil {
				p.TraceContext = tc
			}
		}
	}
	// Chunks of startBatch items, each in its own transaction (or all in
	// the caller's): one multi-row INSERT per table for each.
	for from := 0; from < len(reqs); from += startBatch {
		to := len(reqs)
		if common.tx == nil {
			to = min(from+startBatch, len(reqs))
		}
		var chunk []*store.CreateTaskParams
		var index []int
		var kept []*waiters.Slot // taken before a step can finish
		for i := from; i < to; i++ {
			if params[i] != nil {
				chunk = append(chunk, params[i])
				index = append(index, i)
				kept = append(kept, e.waiters.Keep(params[i].IdentityKey))
			}
		}
		if len(chunk) == 0 {
			continue
		}
		st := e.st
		if common.tx != nil {
			st = st.WithTx(common.tx)
		}
		items, err := st.CreateTasks(ctx, chunk)
		if err != nil {
			// Nothing of the chunk was written (its items carry no task).
			if common.tx != nil || transient(ctx, err) {
				// In the caller's transaction there is no retrying: it is
				// aborted.
				return out, fmt.Errorf("starting items %d to %d: %w", from, to-1, err)
			}
			// One item may have failed the others' transaction (a
			// constraint no check foresaw): each on its own, so it fails
			// alone, as in Start's group commit (createBatch).
			items, err = e.createEach(ctx, chunk)
		}
		created := make([]*store.CreateTaskResult, 0, len(items))
		for k, it := range items {
			i := index[k]
			if it.Err != nil {
				out[i].Err = fmt.Errorf("starting item %d (%s): %w", i, reqs[i].Workflow, it.Err)
				continue
			}
			res := it.CreateTaskResult
			if res.Existing {
				if err := ofOtherWorkflow(params[i], res.Task); err != nil {
					out[i].Err = fmt.Errorf("starting item %d (%s): %w", i, reqs[i].Workflow, err)
					continue
				}
			}
			out[i].Handle = e.handle(res.Task.ID, res.Existing, params[i].IdentityKey, kept[k])
			created = append(created, &res)
		}
		e.announce(created)
		if err != nil {
			return out, fmt.Errorf("starting items %d to %d: %w", from, to-1, err)
		}
		if common.tx != nil {
			break
		}
	}
	return out, nil
}

// createEach creates the tasks ps each in its own transaction: one the
// database refuses fails alone (its item's Err). A transient failure (the
// database is down) or an ended ctx stops it: the items before it are
// returned, and the error is the call's, as CreateTasks' would have been.
func (e *Engine) createEach(ctx context.Context, ps []*store.CreateTaskParams) ([]store.CreateTasksItem, error) {
	items := make([]store.CreateTasksItem, 0, len(ps))
	for _, p := range ps {
		res, err := e.st.CreateTask(ctx, p)
		switch {
		case err == nil:
			items = append(items, store.CreateTasksItem{CreateTaskResult: *res})
		case transient(ctx, err):
			return items, err
		default:
			items = append(items, store.CreateTasksItem{Err: err})
		}
	}
	return items, nil
}

// transient reports whether err, a failed write, is not an item's own: the
// database's transient failure, or ctx ended.
func transient(ctx context.Context, err error) bool {
	return errors.Is(err, store.ErrRetryable) || ctx.Err() != nil
}
