package bunstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// RecordAttempts records attempts of durable steps, first ones and
// retries, completed or failed, in a few statements for each group of
// items that share a Now (see recordAttemptsAt), in one transaction.
func (s *Store) RecordAttempts(ctx context.Context, steps []*store.RecordStepParams) ([]store.RecordedStep, error) {
	for i, p := range steps {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("recording durable steps: steps[%d]: %w", i, err)
		}
		if p.Kind == store.OutcomeSuspend || p.ConsumeEvent != "" {
			return nil, fmt.Errorf("recording durable steps: steps[%d]: %w", i, &store.ValidationError{Field: "kind", Problem: "only attempts (complete, retry, fail) without an event to consume are grouped"})
		}
		if p.Attempt < 1 {
			return nil, fmt.Errorf("recording durable steps: steps[%d]: %w", i, &store.ValidationError{Field: "attempt", Problem: "must be at least 1 here"})
		}
	}
	out := make([]store.RecordedStep, len(steps))
	if len(steps) == 0 {
		return out, nil
	}
	if s.recordInOne(steps) {
		if err := s.recordFirstAttempts(ctx, steps, out); err != nil {
			return nil, s.wrap("recording durable steps", err)
		}
		return out, nil
	}
	if db, ok := s.rw.(*bun.DB); ok && s.completeAtOnce(steps) {
		if err := s.recordCompleted(ctx, db, steps, out); err != nil {
			return nil, s.wrap("recording durable steps", err)
		}
		return out, nil
	}
	err := s.inTx(ctx, "recording durable steps", func(ctx context.Context, tx bun.IDB) error {
		for _, items := range byNow(steps) {
			group, got := make([]*store.RecordStepParams, len(items)), make([]store.RecordedStep, len(items))
			for k, i := range items {
				group[k] = steps[i]
			}
			if err := s.recordAttemptsAt(ctx, tx, group, got); err != nil {
				return err
			}
			for k, i := range items {
				out[i] = got[k]
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// byNow splits steps by their Now, in order of first appearance: each
// item is recorded at its own (its wake time, its transitions' times, as
// RecordStep records it), and a group's statements take one. The engine's
// items share one (zero, but for a fake clock), so this is one group.
func byNow(steps []*store.RecordStepParams) [][]int {
	var groups [][]int
next:
	for i, p := range steps {
		for g, items := range groups {
			if steps[items[0]].Now.Equal(p.Now) {
				groups[g] = append(items, i)
				continue next
			}
		}
		groups = append(groups, []int{i})
	}
	return groups
}

// recordAttemptsAt is RecordAttempts of steps that share one Now, inside
// tx: fence every driver, insert the first attempts' rows, update the
// retried rows, adjust the tasks' unfinished counts, insert every
// transition.
func (s *Store) recordAttemptsAt(ctx context.Context, tx bun.IDB, steps []*store.RecordStepParams, out []store.RecordedStep) error {
	at := now(steps[0].Now)
	live, err := s.fenceDrivers(ctx, tx, steps)
	if err != nil {
		return err
	}
	var fresh []recordedRow
	var retried []retriedRow
	var moves []stepMove
	unfinished := map[int64]int{}
	for i, p := range steps {
		if !live[p.Driver] {
			out[i].Err = fmt.Errorf("driver step %d of task %d: %w", p.Driver.StepID, p.TaskID, store.ErrLeaseLost)
			continue
		}
		target := attemptTarget(p)
		var meta store.JSON
		if target != store.StepComplete {
			meta = p.Error
		}
		if p.Attempt > 1 {
			retried = append(retried, retriedRow{index: i, p: p, target: target, meta: meta})
			if target != store.StepPending {
				unfinished[p.TaskID]--
			}
			continue
		}
		fresh = append(fresh, recordedRow{index: i, row: firstAttemptRow(p, target), delay: retryDelay(p, target), meta: meta})
		if target == store.StepPending {
			unfinished[p.TaskID]++
		}
	}
	if len(fresh) > 0 {
		if err := s.insertRecorded(ctx, tx, fresh, steps[0].Now); err != nil {
			return err
		}
		for _, f := range fresh {
			out[f.index].Step = f.row
			if f.row.State == store.StepComplete {
				continue // its claim and completion are implied (see withImpliedSteps)
			}
			moves = append(moves,
				stepMove{id: f.row.ID, taskID: f.row.TaskID, from: store.StepPending, to: store.StepInProgress, seq: 1},
				stepMove{id: f.row.ID, taskID: f.row.TaskID, from: store.StepInProgress, to: f.row.State, seq: 2, meta: f.meta})
		}
	}
	if len(retried) > 0 {
		if err := s.updateRetried(ctx, tx, retried, steps[0].Now); err != nil {
			return err
		}
		for _, r := range retried {
			row := r.row
			out[r.index].Step = row
			moves = append(moves,
				stepMove{id: row.ID, taskID: row.TaskID, from: store.StepPending, to: store.StepInProgress, seq: row.TransitionSeq - 1},
				stepMove{id: row.ID, taskID: row.TaskID, from: store.StepInProgress, to: r.target, seq: row.TransitionSeq, meta: r.meta})
		}
	}
	if err := s.addUnfinished(ctx, tx, unfinished, at); err != nil {
		return err
	}
	if len(moves) == 0 {
		return nil
	}
	return s.writeStepTransitions(ctx, tx, moves, at)
}

// seqKey names a durable step: its task and sequence number.
type seqKey struct {
	task int64
	seq  int
}

// recordInOne tells whether recordFirstAttempts can record the group: on
// Postgres, first attempts that finish their steps (none waits for a
// retry, so no task's count of unfinished steps changes) at one Now.
func (s *Store) recordInOne(steps []*store.RecordStepParams) bool {
	if !s.d.WritableCTE() {
		return false
	}
	for _, p := range steps {
		if p.Attempt != 1 || attemptTarget(p) == store.StepPending || !p.Now.Equal(steps[0].Now) {
			return false
		}
	}
	return true
}

// recordedCols are the columns recordCompleted writes, its rows' values
// in this order.
var recordedCols = []string{"task_id", "name", "handler", "sequence", "config", "policy", "retryable", "retry_limit", "skippable",
	"results", "next_attempt_at", "started_at", "completed_at", "created_at"}

// completeAtOnce tells whether recordCompleted can record the group: on
// SQLite, first attempts that complete their steps, at one Now, few
// enough for one statement.
func (s *Store) completeAtOnce(steps []*store.RecordStepParams) bool {
	if s.d.WritableCTE() || (len(recordedCols)+2)*len(steps) > s.d.MaxParams() {
		return false
	}
	for _, p := range steps {
		if p.Attempt != 1 || attemptTarget(p) != store.StepComplete || !p.Now.Equal(steps[0].Now) {
			return false
		}
	}
	return true
}

// recordCompleted is RecordAttempts of first attempts that complete their
// steps, in one INSERT on SQLite (atomic on its own: no BEGIN and COMMIT
// statements): the rows of the items whose driver still holds its lease
// go in, the read of the driver rows fencing them, as a transaction's
// fence would (fenceSQL: the one writer serialises the rest), and their
// transitions are implied (withImpliedSteps); no task's count of
// unfinished steps changes. out gets each item's row or ErrLeaseLost.
func (s *Store) recordCompleted(ctx context.Context, db bun.IDB, steps []*store.RecordStepParams, out []store.RecordedStep) error {
	b := params{s: s}
	rows := make([]*store.Step, len(steps))
	values := make([][]any, len(steps))
	for i, p := range steps {
		r := firstAttemptRow(p, store.StepComplete)
		rows[i] = r
		values[i] = []any{p.Driver.StepID, p.Driver.Token, r.TaskID, r.Name, r.Handler, *r.Sequence, nullJSON(r.Config), nullJSON(r.Policy), r.Retryable,
			r.RetryLimit, r.Skippable, nullJSON(r.Results), s.d.BindTime(s.d.Time(p.Now, 0).(time.Time)), s.d.BindTime(*r.StartedAt),
			s.d.BindTime(*r.CompletedAt), s.d.BindTime(r.CreatedAt)}
	}
	cols := strings.Join(recordedCols, ", ")
	v := b.rows([]string{"bigint", "bigint", "bigint", "text", "text", "int", "jsonb", "jsonb", "boolean", "int", "boolean", "jsonb",
		"timestamptz", "timestamptz", "timestamptz", "timestamptz"}, values)
	var back []struct {
		ID            int64     `bun:"id"`
		TaskID        int64     `bun:"task_id"`
		Sequence      int       `bun:"sequence"`
		NextAttemptAt time.Time `bun:"next_attempt_at"`
	}
	err := s.scan(ctx, db, `WITH v (driver, driver_token, `+cols+`) AS (`+v+`)
INSERT INTO tasker_steps (`+cols+`, attempts, state, pending_deps, transition_seq, updated_at)
SELECT `+cols+`, 1, 'complete', 1, 2, created_at FROM v
WHERE EXISTS (SELECT 1 FROM tasker_steps d WHERE d.id = v.driver AND d.state = 'in_progress' AND d.lease_token = v.driver_token)
RETURNING id, task_id, sequence, next_attempt_at`, b.args, &back)
	if err != nil {
		return err
	}
	inserted := make(map[seqKey]int, len(back))
	for k, r := range back {
		inserted[seqKey{r.TaskID, r.Sequence}] = k
	}
	for i, p := range steps {
		k, ok := inserted[seqKey{p.TaskID, p.Sequence}]
		if !ok {
			out[i].Err = fmt.Errorf("driver step %d of task %d: %w", p.Driver.StepID, p.TaskID, store.ErrLeaseLost)
			continue
		}
		rows[i].ID, rows[i].NextAttemptAt = back[k].ID, back[k].NextAttemptAt
		out[i].Step = rows[i]
	}
	return nil
}

// recordFirstAttempts is RecordAttempts in one statement (data-modifying
// CTEs, Postgres), so one round trip without BEGIN and COMMIT: it fences
// the drivers, inserts the rows of the items whose driver held its lease,
// and their two transitions each. out gets each item's row or
// ErrLeaseLost.
func (s *Store) recordFirstAttempts(ctx context.Context, steps []*store.RecordStepParams, out []store.RecordedStep) error {
	at := now(steps[0].Now)
	b := params{s: s}
	stamp := "CAST(" + b.arg(s.d.BindTime(at)) + " AS timestamptz)" // typed: its first use is in a UNION
	rows := make([]*store.Step, len(steps))
	values := make([][]any, len(steps))
	// A first attempt that finishes its step is due now: the group's Now,
	// or on Postgres without it the database's clock (as insertRecorded).
	var nextAt any
	next := "next_at"
	switch t := s.d.Time(steps[0].Now, 0).(type) {
	case bun.Safe:
		next = string(t)
	case time.Time:
		nextAt = s.d.BindTime(t)
	}
	for i, p := range steps {
		r := firstAttemptRow(p, attemptTarget(p))
		rows[i] = r
		var completedAt any
		if r.CompletedAt != nil {
			completedAt = s.d.BindTime(*r.CompletedAt)
		}
		values[i] = []any{p.Driver.StepID, p.Driver.Token, r.TaskID, r.Name, r.Handler, *r.Sequence, nullJSON(r.Config), nullJSON(r.Policy), r.Retryable, r.RetryLimit,
			r.Skippable, string(r.State), nullJSON(r.Results), nullJSON(r.LastError), nextAt, s.d.BindTime(*r.StartedAt), completedAt, s.d.BindTime(r.CreatedAt)}
	}
	_, fence := s.fenceSQL(&b, steps) // Postgres: no WITH clause
	v := b.rows([]string{"bigint", "bigint", "bigint", "text", "text", "int", "jsonb", "jsonb", "boolean", "int", "boolean", "text", "jsonb", "jsonb",
		"timestamptz", "timestamptz", "timestamptz", "timestamptz"}, values)
	var back []struct {
		Kind          string     `bun:"kind"`
		ID            int64      `bun:"id"`
		Token         *int64     `bun:"token"`
		TaskID        *int64     `bun:"task_id"`
		Sequence      *int       `bun:"sequence"`
		NextAttemptAt *time.Time `bun:"next_attempt_at"`
	}
	err := s.scan(ctx, s.rw, `WITH fence AS (`+fence+`),
v (driver, driver_token, task_id, name, handler, sequence, config, policy, retryable, retry_limit, skippable, state, results, last_error, next_at, started_at, completed_at, created_at) AS (`+v+`),
ins AS (
	INSERT INTO tasker_steps (task_id, name, handler, sequence, config, policy, retryable, retry_limit, attempts, skippable, state, results, last_error,
		pending_deps, next_attempt_at, transition_seq, started_at, completed_at, created_at, updated_at)
	SELECT task_id, name, handler, sequence, config, policy, retryable, retry_limit, 1, skippable, state, results, last_error,
		1, `+next+`, 2, started_at, completed_at, created_at, created_at
	FROM v WHERE v.driver_token = ANY(ARRAY(SELECT lease_token FROM fence)) -- tokens are unique per lease: see fenceSQL
	RETURNING id, task_id, sequence, state, last_error, next_attempt_at),
tr AS ( -- a step complete at once has its two implied (see withImpliedSteps)
	INSERT INTO tasker_step_transitions (step_id, task_id, from_state, to_state, sort_key, metadata, created_at)
	SELECT id, task_id, 'pending', 'in_progress', 1, NULL, `+stamp+` FROM ins WHERE state <> 'complete'
	UNION ALL SELECT id, task_id, 'in_progress', state, 2, last_error, `+stamp+` FROM ins WHERE state <> 'complete')
SELECT 'f' AS kind, id, lease_token AS token, CAST(NULL AS bigint) AS task_id, CAST(NULL AS int) AS sequence, CAST(NULL AS timestamptz) AS next_attempt_at FROM fence
UNION ALL SELECT 'i', id, NULL, task_id, sequence, next_attempt_at FROM ins`, b.args, &back)
	if err != nil {
		return err
	}
	live := map[store.Lease]bool{}
	inserted := map[seqKey]int{}
	for k, r := range back {
		switch r.Kind {
		case "f":
			live[store.Lease{StepID: r.ID, Token: *r.Token}] = true
		case "i":
			inserted[seqKey{*r.TaskID, *r.Sequence}] = k
		}
	}
	for i, p := range steps {
		if !live[p.Driver] {
			out[i].Err = fmt.Errorf("driver step %d of task %d: %w", p.Driver.StepID, p.TaskID, store.ErrLeaseLost)
			continue
		}
		k, ok := inserted[seqKey{p.TaskID, p.Sequence}]
		if !ok {
			return fmt.Errorf("task %d sequence %d (%s): its row was not inserted", p.TaskID, p.Sequence, p.Name)
		}
		rows[i].ID, rows[i].NextAttemptAt = back[k].ID, *back[k].NextAttemptAt
		out[i].Step = rows[i]
	}
	return nil
}

// fenceDrivers locks every item's driver row that still holds the lease
// the item ran under (see fenceSQL), and returns those leases. (A bound
// statement, its rows as arrays on Postgres: the database keeps it
// prepared.)
func (s *Store) fenceDrivers(ctx context.Context, tx bun.IDB, steps []*store.RecordStepParams) (map[store.Lease]bool, error) {
	b := params{s: s}
	var fenced []struct {
		ID    int64 `bun:"id"`
		Token int64 `bun:"lease_token"`
	}
	with, fence := s.fenceSQL(&b, steps)
	if err := s.scan(ctx, tx, with+fence, b.args, &fenced); err != nil {
		return nil, err
	}
	live := make(map[store.Lease]bool, len(fenced))
	for _, f := range fenced {
		live[store.Lease{StepID: f.ID, Token: f.Token}] = true
	}
	return live, nil
}

// driverRows lists the distinct driver leases of steps, as (step id,
// token) rows for fenceSQL.
func driverRows(steps []*store.RecordStepParams) [][]any {
	var drivers [][]any
	seen := map[store.Lease]bool{}
	for _, p := range steps {
		if !seen[p.Driver] {
			seen[p.Driver] = true
			drivers = append(drivers, []any{p.Driver.StepID, p.Driver.Token})
		}
	}
	return drivers
}

// fenceSQL is the statement that reads the driver rows of steps that
// still hold the lease an item ran under, locked until the transaction
// ends, and returns their ids and tokens: the WITH clause it needs (with
// "WITH " and a trailing newline, or nothing) and the SELECT. The lock
// (Dialect.LockRows) makes a cancel or a rescue of a driver wait for the
// steps recorded under its lease, and a record wait for a rescue that
// took the lease first (which it then no longer finds); nothing is
// written to the driver's row, so a record costs it no new version and
// no index entries (Postgres), and no page (SQLite).
//
// On Postgres the leases are two arrays and no CTE is joined: the generic
// plan, made for a CTE of about 10 rows, ran the join from the in_progress
// steps' side, scanning the leases once per running step (35,000 pairs,
// 6 ms, for 136 durable steps among 256 running drivers). A row whose id
// and token are each among the group's is a live lease of the group:
// tokens are random per lease, and the caller matches the returned pairs
// to its items (a step holding another item's token would be no item's
// live lease).
func (s *Store) fenceSQL(b *params, steps []*store.RecordStepParams) (with, fence string) {
	rows := driverRows(steps)
	if s.d.BindArrays() {
		ids, tokens := make([]int64, len(rows)), make([]int64, len(rows))
		for i, r := range rows {
			ids[i], tokens[i] = r[0].(int64), r[1].(int64)
		}
		return "", `SELECT tasker_steps.id, tasker_steps.lease_token FROM tasker_steps
	WHERE tasker_steps.id = ANY(` + b.arg(ids) + `) AND tasker_steps.state = 'in_progress' AND tasker_steps.lease_token = ANY(` + b.arg(tokens) + `)` + s.d.LockRows()
	}
	return "WITH d (id, token) AS (" + b.rows([]string{"bigint", "bigint"}, rows) + ")\n", `SELECT tasker_steps.id, tasker_steps.lease_token
	FROM tasker_steps JOIN d ON tasker_steps.id = d.id AND tasker_steps.lease_token = d.token
	WHERE tasker_steps.state = 'in_progress'` + s.d.LockRows()
}

// attemptTarget is the state an attempt's outcome moves its row to, as
// RecordStep decides it.
func attemptTarget(p *store.RecordStepParams) store.StepState {
	switch p.Kind {
	case store.OutcomeComplete:
		return store.StepComplete
	case store.OutcomeRetry:
		limit := p.RetryLimit
		if limit == 0 {
			limit = store.DefaultRetryLimit
		}
		if p.Retryable && p.Attempt < limit {
			return store.StepPending
		}
	}
	return store.StepError
}

// retryDelay is how long after now a row moved to target waits: its
// backoff when it waits for another attempt, none otherwise.
func retryDelay(p *store.RecordStepParams, target store.StepState) time.Duration {
	if target == store.StepPending {
		return p.RetryAfter
	}
	return 0
}

// firstAttemptRow is the new row of a step's first attempt.
func firstAttemptRow(p *store.RecordStepParams, target store.StepState) *store.Step {
	at := now(p.Now)
	limit := p.RetryLimit
	if limit == 0 {
		limit = store.DefaultRetryLimit
	}
	seq := p.Sequence
	started := at.Add(-p.Ran) // the attempt's start (RecordStepParams.Ran)
	row := &store.Step{
		TaskID: p.TaskID, Name: p.Name, Handler: p.Handler, Sequence: &seq, Config: p.Config, Policy: p.Policy,
		Retryable: p.Retryable, RetryLimit: limit, Attempts: 1, State: target, LastError: p.Error,
		PendingDeps: 1, TransitionSeq: 2, StartedAt: &started, CreatedAt: at, UpdatedAt: at,
	}
	if target == store.StepComplete {
		row.Results, row.CompletedAt = orEmptyObject(p.Results), &at
	}
	return row
}

// heldRow is the row of a durable step record held until its driver's
// finish, which commits at at: recorded at its own Now, or at the commit's
// time when it has none, so it is no later than the driver's completion
// (History implies its transitions before it: withImpliedSteps).
func heldRow(r *store.RecordStepParams, at time.Time) *store.Step {
	if r.Now.IsZero() {
		c := *r
		c.Now = at
		r = &c
	}
	return firstAttemptRow(r, store.StepComplete)
}

// retriedRow is a retried step's attempt: steps[index], which moves its
// pending row to target.
type retriedRow struct {
	index  int
	p      *store.RecordStepParams
	target store.StepState
	meta   store.JSON // its last transition's metadata
	row    *store.Step
}

// updateRetried moves the pending rows of retried steps (attempt p.Attempt,
// so p.Attempt-1 recorded) to their targets, in one bound statement per
// chunk (rows as arrays on Postgres), and sets each item's row as stored.
// A row missing, or not pending after p.Attempt-1 attempts, fails it with
// ErrConflict.
func (s *Store) updateRetried(ctx context.Context, tx bun.IDB, items []retriedRow, base time.Time) error {
	next := "v.next_at"
	clock, onDB := s.d.Time(base, 0).(bun.Safe)
	if onDB {
		next = string(clock) + " + v.delay_us * interval '1 microsecond'"
	}
	returning := s.columns("updateRetried", func() string { return s.stepColumns("tasker_steps.", nil) })
	return chunked(s.d, items, 13, func(items []retriedRow) error {
		b := params{s: s}
		values := make([][]any, len(items))
		for i, it := range items {
			p := it.p
			at := now(p.Now)
			var completedAt, results, nextAt any
			if it.target == store.StepComplete {
				completedAt, results = s.d.BindTime(at), nullJSON(p.Results)
			}
			delay := retryDelay(p, it.target)
			if !onDB {
				nextAt = s.d.BindTime(s.d.Time(base, delay).(time.Time))
			}
			values[i] = []any{p.TaskID, p.Sequence, p.Name, p.Attempt - 1, string(it.target), p.Attempt, results, nullJSON(p.Error),
				nextAt, delay.Microseconds(), s.d.BindTime(at.Add(-p.Ran)), completedAt, s.d.BindTime(at)}
		}
		var got []*store.Step
		if err := s.scan(ctx, tx, `WITH v (task_id, sequence, name, prev, state, attempts, results, last_error, next_at, delay_us, started_at, completed_at, updated_at) AS (`+
			b.rows([]string{"bigint", "int", "text", "int", "text", "int", "jsonb", "jsonb", "timestamptz", "bigint", "timestamptz", "timestamptz", "timestamptz"}, values)+`)
			UPDATE tasker_steps SET state = v.state, attempts = v.attempts, results = COALESCE(v.results, tasker_steps.results),
				last_error = COALESCE(v.last_error, tasker_steps.last_error), next_attempt_at = `+next+`,
				transition_seq = tasker_steps.transition_seq + 2, started_at = v.started_at, completed_at = v.completed_at, updated_at = v.updated_at
			FROM v WHERE tasker_steps.task_id = v.task_id AND tasker_steps.sequence = v.sequence AND tasker_steps.name = v.name
				AND tasker_steps.state = 'pending' AND tasker_steps.attempts = v.prev
			RETURNING `+returning, b.args, &got); err != nil {
			return err
		}
		byKey := make(map[seqKey]*store.Step, len(got))
		for _, r := range got {
			if r.Sequence != nil {
				byKey[seqKey{r.TaskID, *r.Sequence}] = r
			}
		}
		for i := range items {
			p := items[i].p
			row := byKey[seqKey{p.TaskID, p.Sequence}]
			if row == nil {
				return fmt.Errorf("task %d sequence %d (%s) has no pending row after %d attempts: %w", p.TaskID, p.Sequence, p.Name, p.Attempt-1, store.ErrConflict)
			}
			items[i].row = row
		}
		return nil
	})
}

// addUnfinished adds delta to each task's unfinished count, in one bound
// statement (its rows as arrays on Postgres: one text whatever their
// number).
func (s *Store) addUnfinished(ctx context.Context, tx bun.IDB, delta map[int64]int, at time.Time) error {
	b := params{s: s}
	var rows [][]any
	for id, d := range delta {
		if d != 0 {
			rows = append(rows, []any{id, int64(d)})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return s.exec(ctx, tx, `WITH v (id, d) AS (`+b.rows([]string{"bigint", "bigint"}, rows)+`)
		UPDATE tasker_tasks SET unfinished = unfinished + v.d, updated_at = `+b.arg(s.d.BindTime(at))+`
		FROM v WHERE tasker_tasks.id = v.id`, b.args)
}

// recordedRow is a first attempt's row to insert: steps[index]'s, ready
// delay after now.
type recordedRow struct {
	index int
	row   *store.Step
	delay time.Duration
	meta  store.JSON // its last transition's metadata
}

// insertRecorded inserts the rows of recorded durable steps (ready by the
// database's clock as of now, plus each one's delay) in bound statements,
// their rows as arrays on Postgres (one text whatever their number, so it
// is prepared and planned once), and sets their ids and next attempt times.
func (s *Store) insertRecorded(ctx context.Context, tx bun.IDB, rows []recordedRow, now time.Time) error {
	const cols = `task_id, name, handler, sequence, config, policy, retryable, retry_limit, attempts, skippable, state, results, last_error,
		pending_deps, next_attempt_at, transition_seq, started_at, completed_at, created_at, updated_at`
	types := []string{"bigint", "text", "text", "int", "jsonb", "jsonb", "boolean", "int", "int", "boolean", "text", "jsonb", "jsonb",
		"int", "timestamptz", "int", "timestamptz", "timestamptz", "timestamptz", "timestamptz"}
	// next_attempt_at is bound per row, or on Postgres without a Now it is
	// the database's clock plus the row's delay (in microseconds, bound in
	// its place).
	clock, onDB := s.d.Time(now, 0).(bun.Safe)
	if onDB {
		types[14] = "bigint"
	}
	return chunked(s.d, rows, len(types), func(rows []recordedRow) error {
		b := params{s: s}
		values := make([][]any, len(rows))
		for i, rr := range rows {
			r := rr.row
			var completedAt, next any
			if r.CompletedAt != nil {
				completedAt = s.d.BindTime(*r.CompletedAt)
			}
			if onDB {
				next = rr.delay.Microseconds()
			} else {
				next = s.d.BindTime(s.d.Time(now, rr.delay).(time.Time))
			}
			values[i] = []any{r.TaskID, r.Name, r.Handler, *r.Sequence, nullJSON(r.Config), nullJSON(r.Policy), r.Retryable, r.RetryLimit, r.Attempts,
				r.Skippable, string(r.State), nullJSON(r.Results), nullJSON(r.LastError), r.PendingDeps, next,
				r.TransitionSeq, s.d.BindTime(*r.StartedAt), completedAt, s.d.BindTime(r.CreatedAt), s.d.BindTime(r.UpdatedAt)}
		}
		list := b.rows(types, values)
		insert := `INSERT INTO tasker_steps (` + cols + `) ` + list
		if onDB {
			insert = `WITH v (` + cols + `) AS (` + list + `)
			INSERT INTO tasker_steps (` + cols + `) SELECT task_id, name, handler, sequence, config, policy, retryable, retry_limit, attempts,
				skippable, state, results, last_error, pending_deps, ` + string(clock) + ` + next_attempt_at * interval '1 microsecond',
				transition_seq, started_at, completed_at, created_at, updated_at FROM v`
		}
		var back []struct {
			ID            int64     `bun:"id"`
			TaskID        int64     `bun:"task_id"`
			Sequence      int       `bun:"sequence"`
			NextAttemptAt time.Time `bun:"next_attempt_at"`
		}
		if err := s.scan(ctx, tx, insert+` RETURNING id, task_id, sequence, next_attempt_at`, b.args, &back); err != nil {
			return err
		}
		byKey := make(map[seqKey]*store.Step, len(rows))
		for _, r := range rows {
			byKey[seqKey{r.row.TaskID, *r.row.Sequence}] = r.row
		}
		for _, r := range back { // (RETURNING's order is not promised)
			if row := byKey[seqKey{r.TaskID, r.Sequence}]; row != nil {
				row.ID, row.NextAttemptAt = r.ID, r.NextAttemptAt
			}
		}
		return nil
	})
}
