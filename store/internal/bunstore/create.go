package bunstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// CreateTask inserts a task, its steps, its edges and its first transition
// in one transaction.
func (s *Store) CreateTask(ctx context.Context, p *store.CreateTaskParams) (*store.CreateTaskResult, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("creating task: %w", err)
	}
	items, err := s.CreateTasks(ctx, []*store.CreateTaskParams{p})
	if err != nil {
		return nil, err
	}
	if items[0].Err != nil {
		return nil, fmt.Errorf("creating task: %w", items[0].Err)
	}
	return &items[0].CreateTaskResult, nil
}

// CreateTasks creates many tasks in one transaction with one multi-row
// INSERT per table: the tasks, their first transitions, their steps and
// their edges.
func (s *Store) CreateTasks(ctx context.Context, ps []*store.CreateTaskParams) ([]store.CreateTasksItem, error) {
	items := make([]store.CreateTasksItem, len(ps))
	valid := make([]int, 0, len(ps))
	for i, p := range ps {
		if p == nil {
			items[i].Err = &store.ValidationError{Field: fmt.Sprintf("tasks[%d]", i), Problem: "is nil"}
			continue
		}
		if err := p.Validate(); err != nil {
			items[i].Err = err
			continue
		}
		valid = append(valid, i)
	}
	valid, err := s.checkRateSystems(ctx, ps, valid, items)
	if err != nil {
		return items, s.wrap("creating tasks", err)
	}
	if len(valid) == 0 {
		return items, nil
	}
	if db, ok := s.rw.(*bun.DB); ok && s.cteFits(ps, valid) && !declaresLimits(ps, valid) {
		// One statement is atomic on its own: no BEGIN and COMMIT round
		// trips (a taken identity is read after it, committed).
		err = s.wrap("creating tasks", s.createTasks(ctx, db, ps, valid, items))
	} else {
		err = s.inTx(ctx, "creating tasks", func(ctx context.Context, tx bun.IDB) error {
			return s.createTasks(ctx, tx, ps, valid, items)
		})
	}
	if err != nil {
		for i := range items {
			items[i].Task, items[i].Existing = nil, false
		}
		return items, err
	}
	return items, nil
}

// checkRateSystems refuses, in its item, each of the valid items of ps
// with a step whose RateSystem has no bucket, declared neither by the item
// nor in the store: no claim could take that step. It reads the store only
// for systems an item names without declaring them (buckets are never
// deleted), and returns the items still valid.
func (s *Store) checkRateSystems(ctx context.Context, ps []*store.CreateTaskParams, valid []int, items []store.CreateTasksItem) ([]int, error) {
	undeclared := func(p *store.CreateTaskParams, ns store.NewStep) bool {
		return ns.RateSystem != "" && !slices.ContainsFunc(p.RateLimits, func(r store.RateLimit) bool { return r.System == ns.RateSystem })
	}
	var ask []string
	for _, i := range valid {
		for _, ns := range ps[i].Steps {
			if undeclared(ps[i], ns) && !slices.Contains(ask, ns.RateSystem) {
				ask = append(ask, ns.RateSystem)
			}
		}
	}
	if len(ask) == 0 {
		return valid, nil
	}
	var known []string
	if err := s.rw.NewRaw("SELECT name FROM tasker_rate_limits WHERE name IN (?)", bun.List(ask)).Scan(ctx, &known); err != nil {
		return nil, fmt.Errorf("reading rate limits: %w", err)
	}
	out := valid[:0]
	for _, i := range valid {
		var errs []error
		for _, ns := range ps[i].Steps {
			if undeclared(ps[i], ns) && !slices.Contains(known, ns.RateSystem) {
				errs = append(errs, &store.ValidationError{Field: fmt.Sprintf("steps[%q].rate_system", ns.Name),
					Problem: fmt.Sprintf("system %q has no rate limit: declare it in rate_limits", ns.RateSystem)})
			}
		}
		if len(errs) > 0 {
			items[i].Err = errors.Join(errs...)
			continue
		}
		out = append(out, i)
	}
	return out, nil
}

// createTasks writes the valid items of ps. An identity key taken before
// (or earlier in ps) gives that task, Existing set, when the input hash
// matches and ErrConflict in the item otherwise.
func (s *Store) createTasks(ctx context.Context, tx bun.IDB, ps []*store.CreateTaskParams, valid []int, items []store.CreateTasksItem) error {
	// One row per identity key: a key repeated within ps refers to the
	// first item's task.
	first := make(map[string]int, len(valid))
	rowOf := make(map[int]*store.Task, len(valid)) // by item index
	var rows []*store.Task
	for _, i := range valid {
		p := ps[i]
		if _, dup := first[p.IdentityKey]; dup {
			continue
		}
		first[p.IdentityKey] = i
		at := now(p.Now)
		state := store.TaskPending
		if len(p.Leased()) > 0 { // its first steps are claimed with it: it starts at once
			state = store.TaskInProgress
		}
		rows = append(rows, &store.Task{
			Namespace: p.Namespace, Name: p.Name, Version: cmp.Or(p.Version, "0.0.0"), Kind: p.Kind,
			IdentityKey: p.IdentityKey, InputHash: p.InputHash, Context: orEmptyObject(p.Context),
			State: state, Priority: p.Priority, Queue: cmp.Or(p.Queue, store.DefaultQueue), ParentID: p.ParentID,
			Unfinished: len(p.Steps), TransitionSeq: 1, CreatedAt: at, UpdatedAt: at, TraceContext: p.TraceContext,
			RetentionMS: retentionMS(p.Retention),
		})
		rowOf[i] = rows[len(rows)-1]
	}
	rowParams := make([]*store.CreateTaskParams, len(rows))
	for k, t := range rows {
		rowParams[k] = ps[first[t.IdentityKey]]
	}
	var created map[string]createdTask   // by identity key
	var cteLeased map[stepKey]leasedStep // the steps leases took, written by the CTE
	token := newLeaseToken()             // the lease token of every step this start claims
	cte := s.cteFits(rowParams, nil)
	if cte {
		if err := s.declareLimits(ctx, tx, rowParams); err != nil {
			return err
		}
		ids, leased, err := s.insertTasksCTE(ctx, tx, rows, rowParams, token)
		if err != nil {
			return err
		}
		created, cteLeased = ids, leased
	} else {
		created = make(map[string]createdTask, len(rows))
		err := chunked(s.d, rows, 16, func(rows []*store.Task) error {
			b := params{s: s}
			values := make([]string, len(rows))
			for i, t := range rows {
				at := b.arg(s.d.BindTime(t.CreatedAt))
				trace, keep, deadline := "NULL", "NULL", "NULL" // not tracing, the default retention, no deadline: no argument to bind
				if t.TraceContext != "" {
					trace = b.arg(t.TraceContext)
				}
				if t.RetentionMS != 0 {
					keep = b.arg(t.RetentionMS)
				}
				if p := ps[first[t.IdentityKey]]; p.Deadline > 0 {
					deadline = b.time(p.Now, p.Deadline)
				}
				values[i] = "(" + strings.Join([]string{b.arg(t.Namespace), b.arg(t.Name), b.arg(t.Version), b.arg(string(t.Kind)),
					b.arg(t.IdentityKey), b.arg(t.InputHash), b.json(t.Context), b.arg(string(t.State)), b.arg(t.Priority), b.arg(t.Queue),
					b.arg(t.ParentID), b.arg(t.Unfinished), b.arg(t.TransitionSeq), at, at, trace, keep, deadline}, ", ") + ")"
			}
			var inserted []struct {
				IdentityKey string `bun:"identity_key"`
				createdTask
			}
			if err := s.scan(ctx, tx, `INSERT INTO tasker_tasks (namespace, name, version, kind, identity_key, input_hash, context, state,
					priority, queue, parent_id, unfinished, transition_seq, created_at, updated_at, trace_context, retention_ms, deadline_at)
				VALUES `+strings.Join(values, ", ")+` ON CONFLICT (identity_key) DO NOTHING RETURNING id, identity_key, deadline_at`, b.args, &inserted); err != nil {
				return err
			}
			for _, r := range inserted {
				created[r.IdentityKey] = r.createdTask
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	var taken []string
	for _, t := range rows {
		if c, ok := created[t.IdentityKey]; ok {
			t.ID, t.DeadlineAt = c.ID, c.DeadlineAt
		} else {
			taken = append(taken, t.IdentityKey)
		}
	}
	existing := make(map[string]*store.Task, len(taken))
	if len(taken) > 0 {
		var ts []*store.Task
		if err := tx.NewSelect().Model(&ts).Where("identity_key IN (?)", bun.List(taken)).Scan(ctx); err != nil {
			return err
		}
		for _, t := range ts {
			existing[t.IdentityKey] = t
		}
	}
	// Results by item; the new tasks' other rows.
	var fresh []*store.Task
	var freshParams []*store.CreateTaskParams
	for _, i := range valid {
		p := ps[i]
		key := p.IdentityKey
		t, isNew := existing[key], false
		if _, ok := created[key]; ok {
			t, isNew = rowOf[first[key]], first[key] == i
		}
		if isNew {
			fresh = append(fresh, t)
			freshParams = append(freshParams, p)
		}
		switch {
		case t == nil: // taken by a row this transaction cannot see (deleted meanwhile)
			items[i].Err = fmt.Errorf("%w: identity key %q is taken by a task that could not be read", store.ErrConflict, key)
		case t.InputHash != p.InputHash:
			items[i].Err = fmt.Errorf("%w: identity key %q is taken by task %d with a different input", store.ErrConflict, key, t.ID)
		default:
			items[i].Task, items[i].Existing = t, !isNew
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if cte { // the CTE wrote the rest
		var leased []*store.Step
		for k, t := range fresh {
			p := freshParams[k]
			for _, i := range p.Leased() {
				row := stepRow(t, p, p.Steps[i])
				leaseStep(row, p, token)
				got := cteLeased[stepKey{t.ID, row.Name}]
				row.ID = got.id
				if got.expires != nil { // the database's clock, not ours
					row.LeaseExpiresAt = got.expires
				}
				leased = append(leased, row)
			}
		}
		attachClaimed(leased, fresh, valid, items)
		return nil
	}
	// No transition is written: a task's creation (from nowhere to the
	// state it starts in: in_progress when its first steps are claimed
	// with it) and its steps' claims are implied by the rows (see
	// withImpliedTask).
	if err := s.declareLimits(ctx, tx, freshParams); err != nil {
		return err
	}
	leased, err := s.insertSteps(ctx, tx, fresh, freshParams, token)
	if err != nil || len(leased) == 0 {
		return err
	}
	attachClaimed(leased, fresh, valid, items)
	return nil
}

// stepKey names a step by its task and name.
type stepKey struct {
	task int64
	name string
}

// createdTask is what a start's insert returns of a task it created.
type createdTask struct {
	ID         int64      `bun:"id"`
	DeadlineAt *time.Time `bun:"deadline_at"` // as the database wrote it
}

// attachClaimed hands the steps starts claimed to the items that created
// their tasks.
func attachClaimed(steps []*store.Step, tasks []*store.Task, valid []int, items []store.CreateTasksItem) {
	if len(steps) == 0 {
		return
	}
	byTask := make(map[int64]*store.Task, len(tasks))
	for _, t := range tasks {
		byTask[t.ID] = t
	}
	claimed := make(map[int64][]*store.ClaimedStep, len(tasks))
	for _, st := range steps {
		claimed[st.TaskID] = append(claimed[st.TaskID], &store.ClaimedStep{Step: st, Task: byTask[st.TaskID], Deps: map[string]store.JSON{}})
	}
	for _, i := range valid {
		if it := &items[i]; it.Task != nil && !it.Existing {
			it.Claimed = claimed[it.Task.ID]
		}
	}
}

// cteFits tells whether the items of ps at valid (nil: all) are written by
// one statement (insertTasksCTE): the database has writable CTEs and the
// statement's parameters stay within its limit (a task of thousands of
// steps takes the portable path, chunked).
func (s *Store) cteFits(ps []*store.CreateTaskParams, valid []int) bool {
	if !s.d.WritableCTE() {
		return false
	}
	n := 1
	count := func(p *store.CreateTaskParams) {
		n += 15
		if p.TraceContext != "" {
			n++
		}
		if p.Retention != 0 {
			n++
		}
		for _, ns := range p.Steps {
			n += 19 + 3*len(ns.DependsOn)
		}
	}
	if valid == nil {
		for _, p := range ps {
			count(p)
		}
	} else {
		for _, i := range valid {
			count(ps[i])
		}
	}
	return n <= s.d.MaxParams()
}

// declaresLimits tells whether any valid item creates a concurrency group
// or declares a rate limit (statements of their own before the tasks).
func declaresLimits(ps []*store.CreateTaskParams, valid []int) bool {
	for _, i := range valid {
		if ps[i].ConcGroup != "" || len(ps[i].RateLimits) > 0 {
			return true
		}
	}
	return false
}

// retentionMS is a task's retention as stored: 0 (NULL) the default, -1
// kept forever, otherwise milliseconds.
func retentionMS(d time.Duration) int64 {
	if d == store.KeepForever {
		return -1
	}
	return d.Milliseconds()
}
