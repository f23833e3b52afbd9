package bunstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tasker-go/tasker/store"
)

// finishInOne tells whether a group of outcomes can be committed by
// finishCTE: on Postgres, completions only, with no claim or a claim of
// the steps they unblock.
func (s *Store) finishInOne(p *store.FinishStepsParams) bool {
	if !s.d.WritableCTE() || (p.Claim != nil && !p.ClaimUnblockedOnly) {
		return false
	}
	if len(p.Outcomes)*6+16 > s.d.MaxParams() {
		return false
	}
	for _, o := range p.Outcomes {
		if o.Kind != store.OutcomeComplete {
			return false
		}
	}
	return true
}

// finishRow is one row of finishCTE's answer: a completed step (kind
// 'd'), a counted-down task ('t'), a step claimed ('c', the whole row),
// the number of steps unblocked ('u', in ID), a watched task the
// statement finished ('F', the task's row), or a step of such a task ('f',
// the whole row with its edges out).
type finishRow struct {
	Kind       string `bun:"kind"`
	store.Step `bun:",extend"`
	Unfinished *int   `bun:"unfinished"`
	ParentID   *int64 `bun:"parent_id"`
	// A claimed step's task and its dependencies' results (see
	// loadInputs: [name, results missing, results] each).
	Task      store.Task `bun:",embed:t_"`
	ClaimDeps store.JSON `bun:"claim_deps"`
	Out       store.JSON `bun:"step_out"` // 'f': a JSON array of [to step id]
}

// finishCTE commits a group of completions in one statement, so in one
// round trip without BEGIN and COMMIT (Postgres, data-modifying CTEs): the
// steps complete (guarded per row on the lease token) with their
// transitions; their dependants count down, and those that become ready
// are claimed at once for p.Claim (the next step of a chain runs on the
// worker that finished the previous one, without a claim statement); the
// tasks count down and complete, with their transitions; the waiting steps
// of a completed task's parent become ready; the tasks of p.Watch it
// completes come back whole. order is the outcomes' order by step id.
//
// Locks are taken steps first, then tasks, in every such statement (the
// tasks' update waits for the dependants' through its reference to dep),
// so two commits that meet on a join step and its task cannot deadlock.
//
// Every sub-statement touches rows no other one does (the completed steps
// are in_progress, their dependants pending with dependencies left, the
// parents' waiting steps pending with none), as Postgres requires of
// data-modifying CTEs, which all see the statement's snapshot.
//
// The statement is planned once (a generic plan, see the postgres
// package), for CTEs of about 10 rows whatever the group's size. So no
// part of it joins two CTEs, or a CTE to a table with the table's rows
// outside, where the plan could run a nested loop over the CTE once per
// row of the other side: the steps to claim and the claimed steps' tasks
// and inputs are looked up row by row by primary key (LATERAL … LIMIT 1,
// which the planner cannot flatten into a join), and the claim's pick is
// an array. (Joins made 89 completions of 10-step chains take 26 ms; the
// tasks of the claimed steps are read as they were before the statement,
// their unfinished count not yet lowered by it.)
func (s *Store) finishCTE(ctx context.Context, p *store.FinishStepsParams, order []int) (*store.FinishStepsResult, error) {
	at := now(p.Now)
	b := params{s: s}
	values := make([][]any, len(order))
	for k, i := range order {
		o := p.Outcomes[i]
		values[k] = []any{o.Lease.StepID, o.Lease.Token, string(orEmptyObject(o.Results)), nullJSON(o.Metadata)}
	}
	// The arguments are bound first, in this order; the text, made of
	// their placeholders, is built once per shape.
	var sh finishShape
	sh.v = b.rows([]string{"bigint", "bigint", "jsonb", "jsonb"}, values)
	sh.stamp = b.arg(s.d.BindTime(at))
	sh.held = s.heldCTE(&b, p, at)
	limit := 0
	if p.Claim != nil {
		limit = p.Claim.Limit
	}
	if p.Claim != nil && len(p.Claim.Handlers) > 0 {
		sh.filter += " AND " + b.in("s.handler", p.Claim.Handlers)
	}
	if p.Claim != nil && len(p.Claim.Queues) > 0 {
		sh.filter += " AND " + b.in("s.queue", p.Claim.Queues)
	}
	sh.now = b.time(p.Now, 0)
	sh.limit = s.d.BindLimit(b.arg(limit))
	if p.Claim != nil {
		sh.owner, sh.expires, sh.token = b.arg(p.Claim.Owner), b.time(p.Now, p.Claim.LeaseTTL), b.arg(newLeaseToken())
	} else { // nothing is claimed (LIMIT 0): placeholders of the right types
		sh.owner, sh.expires, sh.token = "CAST(NULL AS text)", "CAST(NULL AS timestamptz)", "CAST(NULL AS bigint)"
	}
	if len(p.Watch) > 0 {
		sh.watch = b.arg(p.Watch)
	}
	text := s.texts.text(sh, func() string { return s.finishText(sh) })
	var rows []finishRow
	if err := s.scan(ctx, s.rw, text, b.args, &rows); err != nil {
		return nil, s.wrap("finishing steps", err)
	}
	res := &store.FinishStepsResult{Steps: make([]store.FinishedStep, len(p.Outcomes))}
	done := map[int64]finishRow{}
	var tasks, finished []finishRow
	for _, r := range rows {
		switch r.Kind {
		case "d":
			done[r.ID] = r
		case "c":
			c, err := claimedWithInputs(r.Step, r.Task, r.ClaimDeps)
			if err != nil {
				return nil, err
			}
			res.Claimed = append(res.Claimed, c)
		case "t":
			tasks = append(tasks, r)
		case "u":
			res.Unblocked = int(r.ID)
		case "F":
			t := r.Task
			res.Finished = append(res.Finished, &store.TaskDetail{Task: &t})
		case "f":
			finished = append(finished, r)
		}
	}
	slices.SortFunc(res.Finished, func(a, b *store.TaskDetail) int { return cmp.Compare(a.Task.ID, b.Task.ID) })
	byTask := make(map[int64]*store.TaskDetail, len(res.Finished))
	for _, d := range res.Finished {
		byTask[d.Task.ID] = d
	}
	for _, r := range finished {
		d := byTask[r.TaskID]
		if d == nil {
			return nil, fmt.Errorf("finishing steps: step %d of task %d came back without its task", r.ID, r.TaskID)
		}
		if err := addFinished(d, r); err != nil {
			return nil, err
		}
	}
	for i, o := range p.Outcomes {
		r, ok := done[o.Lease.StepID]
		if !ok {
			res.Steps[i] = store.FinishedStep{StepID: o.Lease.StepID, Err: fmt.Errorf("step %d: %w", o.Lease.StepID, store.ErrLeaseLost)}
			continue
		}
		res.Steps[i] = store.FinishedStep{StepID: r.ID, TaskID: r.TaskID, State: store.StepComplete}
	}
	slices.SortFunc(tasks, func(a, b finishRow) int { return int(a.ID - b.ID) })
	for _, t := range tasks {
		if t.Unfinished != nil && *t.Unfinished == 0 && store.TaskState(t.State) == store.TaskComplete {
			res.Tasks = append(res.Tasks, store.TaskChange{TaskID: t.ID, From: store.TaskInProgress, To: store.TaskComplete})
		}
	}
	slices.SortFunc(res.Claimed, func(a, b *store.ClaimedStep) int { return int(a.Step.ID - b.Step.ID) })
	return res, nil
}

// finishShape is what finishCTE's text is built from: its arguments'
// placeholders and the SQL fragments that stand for some of them.
type finishShape struct {
	v, stamp, held, filter, now, limit, owner, expires, token, watch string
}

// finishText is finishCTE's statement for the shape sh.
func (s *Store) finishText(sh finishShape) string {
	var q strings.Builder
	q.WriteString(`WITH v (id, token, results, meta) AS (` + sh.v + `),
done AS (
	UPDATE tasker_steps SET state = 'complete', results = v.results, completed_at = ` + sh.stamp + `, updated_at = ` + sh.stamp + `,
		lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL, transition_seq = tasker_steps.transition_seq + 1
	FROM v WHERE tasker_steps.id = v.id AND tasker_steps.state = 'in_progress' AND tasker_steps.lease_token = v.token
	RETURNING tasker_steps.*, v.meta AS done_meta),
tr AS (INSERT INTO tasker_step_transitions (step_id, task_id, from_state, to_state, sort_key, metadata, created_at)
	SELECT id, task_id, 'in_progress', 'complete', transition_seq, done_meta, ` + sh.stamp + ` FROM done),
dc AS (SELECT e.to_step_id AS id, count(*) AS n FROM tasker_step_edges e JOIN done ON e.from_step_id = done.id GROUP BY e.to_step_id),`)
	q.WriteString(sh.held)
	// The dependants to claim: those whose last dependencies complete
	// here, outside concurrency groups and rate limits (the claim loop
	// takes those), within the claim's routing and room.
	q.WriteString(`
cand AS (
	SELECT c.id FROM dc CROSS JOIN LATERAL (
		SELECT s.id, s.priority FROM tasker_steps s JOIN tasker_tasks t ON t.id = s.task_id
		WHERE s.id = dc.id AND s.state = 'pending' AND s.pending_deps = dc.n AND s.conc_group IS NULL AND s.rate_system IS NULL
			AND s.next_attempt_at <= ` + sh.now + `
			AND t.state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually')` + sh.filter + `
		LIMIT 1) c
	ORDER BY c.priority DESC, c.id LIMIT ` + sh.limit + `),`)
	// claim re-checks the row as the update finds it (after a concurrent
	// commit it may have moved on).
	const claim = "d.pick AND tasker_steps.state = 'pending' AND tasker_steps.pending_deps = d.n"
	when := func(then, otherwise string) string {
		return "CASE WHEN " + claim + " THEN " + then + " ELSE " + otherwise + " END"
	}
	q.WriteString(`
d AS MATERIALIZED (SELECT id, n, id = ANY(ARRAY(SELECT id FROM cand)) AS pick FROM dc),
dep AS (
	UPDATE tasker_steps SET pending_deps = tasker_steps.pending_deps - d.n,
		state = ` + when("'in_progress'", "tasker_steps.state") + `,
		attempts = tasker_steps.attempts + ` + when("1", "0") + `,
		lease_owner = ` + when(sh.owner, "tasker_steps.lease_owner") + `,
		lease_expires_at = ` + when(sh.expires, "tasker_steps.lease_expires_at") + `,
		lease_token = ` + when(sh.token, "tasker_steps.lease_token") + `,
		started_at = ` + when(sh.stamp, "tasker_steps.started_at") + `,
		updated_at = ` + when(sh.stamp, "tasker_steps.updated_at") + `,
		transition_seq = tasker_steps.transition_seq + ` + when("1", "0") + `
	FROM d WHERE tasker_steps.id = d.id
	RETURNING tasker_steps.*, (tasker_steps.state = 'in_progress' AND tasker_steps.lease_token IS NOT DISTINCT FROM ` + sh.token + `) AS claimed),
str AS (INSERT INTO tasker_step_transitions (step_id, task_id, from_state, to_state, sort_key, metadata, created_at)
	SELECT id, task_id, 'pending', 'in_progress', transition_seq, NULL, ` + sh.stamp + ` FROM dep WHERE claimed),
n AS (SELECT task_id AS id, count(*) AS n FROM done GROUP BY task_id),`)
	const last = "tasker_tasks.unfinished = n.n AND tasker_tasks.state = 'in_progress'"
	q.WriteString(`
cnt AS (
	UPDATE tasker_tasks SET unfinished = tasker_tasks.unfinished - n.n,
		state = CASE WHEN ` + last + ` THEN 'complete' ELSE tasker_tasks.state END,
		completed_at = CASE WHEN ` + last + ` THEN ` + sh.stamp + ` ELSE tasker_tasks.completed_at END,
		transition_seq = tasker_tasks.transition_seq + CASE WHEN ` + last + ` THEN 1 ELSE 0 END,
		updated_at = ` + sh.stamp + `
	FROM n WHERE tasker_tasks.id = n.id AND (SELECT count(*) FROM dep) >= 0
	RETURNING tasker_tasks.*),
ttr AS (INSERT INTO tasker_task_transitions (task_id, from_state, to_state, sort_key, metadata, created_at)
	SELECT id, 'in_progress', 'complete', transition_seq, NULL, ` + sh.stamp + ` FROM cnt WHERE unfinished = 0 AND state = 'complete'),
parents AS MATERIALIZED (SELECT DISTINCT parent_id AS id FROM cnt WHERE unfinished = 0 AND state = 'complete' AND parent_id IS NOT NULL),
wp AS (UPDATE tasker_steps SET next_attempt_at = ` + sh.stamp + ` FROM parents
	WHERE tasker_steps.task_id = parents.id AND tasker_steps.state = 'pending' AND tasker_steps.pending_deps = 0
		AND tasker_steps.next_attempt_at > ` + sh.stamp + `)
,
vi (ids) AS (SELECT array_agg(id ORDER BY id) FROM v),
vr (results) AS (SELECT array_agg(results ORDER BY id) FROM v)
` + s.columns("finish answer", func() string {
		// A claimed step's task as the statement leaves it: read before
		// it (LATERAL), less the steps it completed (n).
		claimedTask := s.taskColumnsOf(func(col string) string {
			if col == "unfinished" {
				return "t.unfinished - coalesce((SELECT n.n FROM n WHERE n.id = t.id), 0)"
			}
			return "t." + col
		})
		return `SELECT 'c' AS kind, ` + s.stepColumns("dep.", nil) + `, CAST(NULL AS int) AS unfinished, CAST(NULL AS bigint) AS parent_id, ` +
			claimedTask + `, cd.deps AS claim_deps, CAST(NULL AS json) AS step_out
	FROM dep CROSS JOIN LATERAL (SELECT * FROM tasker_tasks t WHERE t.id = dep.task_id LIMIT 1) t
		CROSS JOIN LATERAL (SELECT ` + s.d.JSONAgg("f.name", "r.results IS NULL", "r.results") + ` AS deps
			FROM tasker_step_edges e
				CROSS JOIN LATERAL (SELECT f.name, f.state, f.results FROM tasker_steps f WHERE f.id = e.from_step_id LIMIT 1) f
				CROSS JOIN LATERAL (SELECT CASE WHEN f.state = 'in_progress'
					THEN (SELECT results FROM vr)[array_position((SELECT ids FROM vi), e.from_step_id)] ELSE f.results END AS results) r
			WHERE e.to_step_id = dep.id) cd
	WHERE dep.claimed
UNION ALL SELECT 'd', ` + s.stepColumns("", map[string]string{"id": "id", "task_id": "task_id", "transition_seq": "transition_seq"}) + `, NULL, NULL, ` + s.taskColumns("") + `, NULL, NULL FROM done
UNION ALL SELECT 't', ` + s.stepColumns("", map[string]string{"id": "id", "state": "state", "transition_seq": "transition_seq"}) + `, unfinished, parent_id, ` + s.taskColumns("") + `, NULL, NULL FROM cnt
UNION ALL SELECT 'u', ` + s.stepColumns("", map[string]string{"id": "count(*)"}) + `, NULL, NULL, ` + s.taskColumns("") + `, NULL, NULL FROM dep WHERE pending_deps = 0`
	}))
	if sh.watch != "" {
		// The watched tasks it completes, whole: each task's row ('F'),
		// and its steps as the statement leaves them ('f': those it
		// completed from done, the others as they were: a complete task
		// has no step left to change). The steps are not joined to their
		// tasks here: in a plan made for a few rows (on a connection that
		// planned it while tasker_steps was small), the join ran the
		// steps' part, a scan of tasker_steps, once per task: 90 of 112
		// ms for a group of 179 one-step workflows. The rows are put
		// together in Go.
		fins := `ARRAY(SELECT id FROM cnt WHERE unfinished = 0 AND state = 'complete' AND id = ANY(` + sh.watch + `))`
		q.WriteString(`
UNION ALL SELECT 'F', ` + s.columns("no step", func() string { return s.stepColumns("", map[string]string{}) }) + `, NULL, NULL, ` + s.columns("finished task", func() string { return s.taskColumns("cnt.") }) + `, NULL, NULL
FROM cnt WHERE cnt.id = ANY(` + fins + `)
UNION ALL SELECT 'f', ` + s.columns("finished steps", func() string { return s.stepColumns("x.", nil) }) + `, NULL, NULL, ` + s.columns("no task", func() string { return s.taskColumns("") }) + `, NULL,
	(SELECT ` + s.d.JSONAgg("e.to_step_id") + ` FROM tasker_step_edges e WHERE e.from_step_id = x.id)
FROM (SELECT ` + s.columns("done steps", func() string { return s.stepColumns("done.", nil) }) + ` FROM done WHERE done.task_id = ANY(` + fins + `)
		UNION ALL SELECT ` + s.columns("steps s", func() string { return s.stepColumns("s.", nil) }) + ` FROM tasker_steps s
		WHERE s.task_id = ANY(` + fins + `) AND NOT s.id = ANY(ARRAY(SELECT id FROM done))`)
		if sh.held != "" { // inserted by this statement: not in its snapshot of tasker_steps
			q.WriteString(`
		UNION ALL SELECT ` + s.columns("held steps", func() string { return s.stepColumns("hins.", nil) }) + ` FROM hins WHERE hins.task_id = ANY(` + fins + `)`)
		}
		q.WriteString(`) x`)
	}
	return q.String()
}

// heldCTE is the part of finishCTE that inserts the outcomes' held
// records (StepOutcome.Records) — the rows of durable steps completed on
// their first attempt, whose transitions are implied (withImpliedSteps) —
// for the drivers done completed under their lease; empty when there are
// none. It names the inserted rows hins.
func (s *Store) heldCTE(b *params, p *store.FinishStepsParams, at time.Time) string {
	var values [][]any
	for _, o := range p.Outcomes {
		for _, r := range o.Records {
			row := heldRow(r, at)
			values = append(values, []any{r.Driver.StepID, row.TaskID, row.Name, row.Handler, *row.Sequence, nullJSON(row.Config), nullJSON(row.Policy),
				row.Retryable, row.RetryLimit, row.Skippable, nullJSON(row.Results), s.d.BindTime(row.CreatedAt), s.d.BindTime(*row.StartedAt), s.d.BindTime(*row.CompletedAt)})
		}
	}
	if len(values) == 0 {
		return ""
	}
	hv := b.rows([]string{"bigint", "bigint", "text", "text", "int", "jsonb", "jsonb", "boolean", "int", "boolean", "jsonb", "timestamptz", "timestamptz", "timestamptz"}, values)
	// A first attempt that completes its step is due at once: its
	// next_attempt_at is when it is recorded, as insertRecorded's rows are
	// due now; its started_at is when it began (RecordStepParams.Ran).
	// Only the drivers done completed (under their lease) get theirs.
	return `
hv (driver, task_id, name, handler, sequence, config, policy, retryable, retry_limit, skippable, results, created_at, started_at, completed_at) AS (` + hv + `),
hins AS (
	INSERT INTO tasker_steps (task_id, name, handler, sequence, config, policy, retryable, retry_limit, attempts, skippable, state, results,
		pending_deps, next_attempt_at, transition_seq, started_at, completed_at, created_at, updated_at)
	SELECT task_id, name, handler, sequence, config, policy, retryable, retry_limit, 1, skippable, 'complete', results,
		1, created_at, 2, started_at, completed_at, created_at, created_at
	FROM hv WHERE (hv.driver, hv.task_id) IN (SELECT id, task_id FROM done)
	RETURNING *),`
}

// addFinished adds a step of a watched task finishCTE finished to the
// task d, the step and its edges each in place (in id order: the rows come
// in no order).
func addFinished(d *store.TaskDetail, r finishRow) error {
	st := r.Step
	i, _ := slices.BinarySearchFunc(d.Steps, st.ID, func(s *store.Step, id int64) int { return cmp.Compare(s.ID, id) })
	d.Steps = slices.Insert(d.Steps, i, &st)
	var out [][1]int64
	if len(r.Out) > 0 {
		if err := json.Unmarshal(r.Out, &out); err != nil {
			return fmt.Errorf("decoding the edges of step %d: %w", st.ID, err)
		}
	}
	for _, to := range out {
		e := &store.Edge{TaskID: r.TaskID, FromStepID: st.ID, ToStepID: to[0]}
		j, _ := slices.BinarySearchFunc(d.Edges, e, func(a, b *store.Edge) int {
			return cmp.Or(cmp.Compare(a.FromStepID, b.FromStepID), cmp.Compare(a.ToStepID, b.ToStepID))
		})
		d.Edges = slices.Insert(d.Edges, j, e)
	}
	return nil
}

// claimedWithInputs is a claimed step read with its task and its
// dependencies' results (claimDeps: a JSON array of [name, results
// missing, results]).
func claimedWithInputs(st store.Step, t store.Task, claimDeps store.JSON) (*store.ClaimedStep, error) {
	c := &store.ClaimedStep{Step: &st, Task: &t, Deps: map[string]store.JSON{}}
	if len(claimDeps) == 0 {
		return c, nil
	}
	var deps [][3]json.RawMessage
	if err := json.Unmarshal(claimDeps, &deps); err != nil {
		return nil, fmt.Errorf("decoding the dependencies of claimed step %d: %w", st.ID, err)
	}
	for _, d := range deps {
		var name string
		if err := json.Unmarshal(d[0], &name); err != nil {
			return nil, fmt.Errorf("decoding the dependencies of claimed step %d: %w", st.ID, err)
		}
		var results store.JSON
		if missing := string(d[1]); missing != "true" && missing != "1" {
			results = store.JSON(d[2])
		}
		c.Deps[name] = results
	}
	return c, nil
}

// columnLists holds the column lists built from the records' fields, by
// the name of their use: they are the same for every store and call.
var columnLists sync.Map

// columns returns the column list named key, built once.
func (s *Store) columns(key string, build func() string) string {
	if v, ok := columnLists.Load(key); ok {
		return v.(string)
	}
	v, _ := columnLists.LoadOrStore(key, build())
	return v.(string)
}

// taskColumns lists tasker_tasks' columns prefixed t_ (finishRow.Task),
// each prefix+name, or NULL when prefix is empty.
func (s *Store) taskColumns(prefix string) string {
	return s.taskColumnsOf(func(col string) string {
		if prefix == "" {
			return "NULL"
		}
		return prefix + col
	})
}

// taskColumnsOf lists tasker_tasks' columns prefixed t_, each the
// expression expr gives for it.
func (s *Store) taskColumnsOf(expr func(col string) string) string {
	fields := s.db.Table(reflect.TypeFor[store.Task]()).Fields
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = expr(f.Name) + " AS t_" + f.Name
	}
	return strings.Join(cols, ", ")
}

// claimedRow is a row of a claim that returns its inputs
// (claimReadySQL's withInputs).
type claimedRow struct {
	store.Step `bun:",extend"`
	Task       store.Task `bun:",embed:t_"`
	ClaimDeps  store.JSON `bun:"claim_deps"`
}

// stepColumns lists tasker_steps' columns in the order of store.Step's
// fields, each prefix+name, or the expression set gives it, or NULL.
func (s *Store) stepColumns(prefix string, set map[string]string) string {
	fields := s.db.Table(reflect.TypeFor[store.Step]()).Fields
	cols := make([]string, len(fields))
	for i, field := range fields {
		f := field.Name
		switch e, ok := set[f]; {
		case set == nil:
			cols[i] = prefix + f
		case ok:
			cols[i] = e + " AS " + f
		default:
			cols[i] = "NULL"
		}
	}
	return strings.Join(cols, ", ")
}
