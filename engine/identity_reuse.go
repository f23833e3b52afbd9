package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/tasker-go/tasker/store"
)

// IdentityReuse says whether a start with an idempotency key may create a
// new run when an earlier run with that key has finished (see
// WithIdentityReuse).
type IdentityReuse int

// Identity reuse policies.
const (
	// ReuseNever: the key names its first task for good; a start with it
	// returns that task whatever its state (the default).
	ReuseNever IdentityReuse = iota
	// ReuseAfterDone: once the task of the key has finished in any way
	// (complete, failed, cancelled, resolved by hand), a start creates a
	// new run; while it runs, a start returns it.
	ReuseAfterDone
	// ReuseAfterFailed: a start creates a new run only when the task of
	// the key failed (error) or was cancelled; after it completed, a start
	// returns it.
	ReuseAfterFailed
)

// WithIdentityReuse sets when a start with WithIdempotencyKey may create a
// new run after the key's earlier run finished. The earlier run keeps its
// row, history and handles; its identity becomes "retired:<id>:<identity>",
// so the key names the new run from then on. A new run may have a
// different input. A code-first workflow that continued as new
// (ContinueAsNew) is judged by the chain's last run, where it goes on: its
// first run, which holds the key, is complete once it continued. It needs
// WithIdempotencyKey, and StartMany refuses it.
func WithIdentityReuse(r IdentityReuse) StartOption {
	return func(o *startOptions) {
		if o.reuseSet && o.reuse != r {
			o.givenTwice("WithIdentityReuse", strconv.Itoa(int(o.reuse)), strconv.Itoa(int(r)))
		}
		o.reuse, o.reuseSet = r, true
	}
}

// reusable reports whether a task in state s may give its key to a new run.
func (r IdentityReuse) reusable(s store.TaskState) bool {
	switch r {
	case ReuseAfterDone:
		return s.Done()
	case ReuseAfterFailed:
		return s == store.TaskError || s == store.TaskCancelled
	}
	return false
}

// checkReuse refuses a reuse policy that cannot apply.
func (o *startOptions) checkReuse() error {
	switch {
	case !o.reuseSet || o.reuse == ReuseNever:
		return nil
	case o.reuse != ReuseAfterDone && o.reuse != ReuseAfterFailed:
		return fmt.Errorf("%w: WithIdentityReuse(%d) is not a policy", store.ErrInvalid, o.reuse)
	case o.key == "":
		return fmt.Errorf("%w: WithIdentityReuse needs WithIdempotencyKey", store.ErrInvalid)
	}
	return nil
}

// retiredIdentity is what a run's identity becomes when a new run takes its
// key. No start makes such an identity ("key:", "input:", "unique:").
func retiredIdentity(taskID int64, identity string) string {
	return fmt.Sprintf("retired:%d:%s", taskID, identity)
}

// createReusing is create, and, when the key's run has finished and the
// policy lets a new run take the key, retires the old run's identity and
// creates again.
func (e *Engine) createReusing(ctx context.Context, p *store.CreateTaskParams, o *startOptions) (*store.CreateTaskResult, error) {
	if err := o.checkReuse(); err != nil {
		return nil, err
	}
	ctx, span := e.traceStart(ctx, p)
	res, err := e.createReused(ctx, p, o)
	endStart(span, res, err)
	return res, err
}

func (e *Engine) createReused(ctx context.Context, p *store.CreateTaskParams, o *startOptions) (*store.CreateTaskResult, error) {
	res, err := e.create(ctx, p, o.tx)
	if err == nil && res.Existing {
		if oerr := ofOtherWorkflow(p, res.Task); oerr != nil {
			return nil, oerr
		}
	}
	if o.reuse == ReuseNever || (err != nil && !errors.Is(err, store.ErrConflict)) || (err == nil && !res.Existing) {
		return res, err
	}
	st := e.st
	if o.tx != nil {
		st = st.WithTx(o.tx)
	}
	old, gerr := st.GetTaskByIdentity(ctx, p.IdentityKey)
	if gerr == nil {
		if oerr := ofOtherWorkflow(p, old); oerr != nil { // not this workflow's to retire
			return nil, oerr
		}
	}
	if gerr != nil {
		return res, err
	}
	state := old.State
	states := slices.DeleteFunc(slices.Clone(store.TaskStates), func(s store.TaskState) bool { return !o.reuse.reusable(s) })
	if old.Kind == store.KindCode && old.State == store.TaskComplete {
		// A run that continued as new is complete while its workflow goes
		// on in the chain's last run, whose state is the workflow's.
		d, derr := st.GetTask(ctx, old.ID)
		if derr != nil {
			return nil, fmt.Errorf("reading task %d: %w", old.ID, derr)
		}
		next, last, cerr := e.chainEnd(ctx, st, d)
		if cerr != nil {
			return nil, cerr
		}
		if next != 0 {
			state, states = last.State, []store.TaskState{store.TaskComplete}
		}
	}
	if !o.reuse.reusable(state) {
		return res, err // running, or not in a state the policy reuses: as before
	}
	if _, rerr := st.RetireIdentity(ctx, &store.RetireIdentityParams{TaskID: old.ID, IdentityKey: p.IdentityKey,
		Retired: retiredIdentity(old.ID, p.IdentityKey), States: states, Now: e.now()}); rerr != nil {
		return nil, fmt.Errorf("retiring the identity of task %d: %w", old.ID, rerr)
	}
	// Retired by us or by a start racing us: the key is free, or names the
	// other start's new run (then this start returns it). The retire is
	// written, so the create goes on whatever becomes of ctx: refused for
	// it, the key would name no task after a start that failed.
	res, err = e.create(context.WithoutCancel(ctx), p, o.tx)
	if err == nil && res.Existing {
		if oerr := ofOtherWorkflow(p, res.Task); oerr != nil {
			return nil, oerr
		}
	}
	return res, err
}

// ofOtherWorkflow refuses the task t found by p's identity when another
// workflow started it. A key is scoped by the workflow's name, and names
// may hold ':': "t/a:b" with key "k" is the identity of "t/a" with key
// "b:k". Returned, the start would hand over (or, reusing, retire) a task
// of another workflow.
func ofOtherWorkflow(p *store.CreateTaskParams, t *store.Task) error {
	if t == nil || t.Namespace == p.Namespace && t.Name == p.Name {
		return nil
	}
	return fmt.Errorf("%w: identity key %s is taken by task %d of workflow %s/%s (a name holding ':' meets another workflow's key)", store.ErrConflict, quoteName(p.IdentityKey), t.ID, t.Namespace, t.Name)
}
