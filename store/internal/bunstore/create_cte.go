package bunstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// insertTasksCTE writes new tasks, their steps and their edges in one
// statement (data-modifying CTEs, Postgres): one
// round trip for a whole group of starts, where the portable path takes
// four. It returns the ids of the tasks inserted by identity key; a key
// taken before is absent (ON CONFLICT DO NOTHING), and so are its steps.
// The steps a start's Lease takes are written claimed under token (and
// their tasks in_progress). The transitions of both are implied by the
// rows (see withImpliedTask): none is written. The steps' ids and lease
// expiries (by the database's clock) are returned by task and name.
//
// The statement is bound, its rows as arrays (params.unnest): its text is
// one of three (with steps and edges, steps only, neither), so Postgres
// keeps it prepared and plans it once.
func (s *Store) insertTasksCTE(ctx context.Context, db bun.IDB, rows []*store.Task, ps []*store.CreateTaskParams, token int64) (map[string]createdTask, map[stepKey]leasedStep, error) {
	var b strings.Builder
	q := params{s: s}
	tasks := make([][]any, len(rows))
	for k, t := range rows {
		var trace, keep any // not tracing, the default retention: NULL
		if t.TraceContext != "" {
			trace = t.TraceContext
		}
		if t.RetentionMS != 0 {
			keep = t.RetentionMS
		}
		var deadline any // no deadline: NULL
		if d := ps[k].Deadline; d > 0 {
			deadline = d.Microseconds()
		}
		tasks[k] = []any{k, t.Namespace, t.Name, t.Version, string(t.Kind), t.IdentityKey, t.InputHash, string(t.Context), string(t.State), t.TransitionSeq,
			t.Priority, t.Queue, t.ParentID, t.Unfinished, t.CreatedAt, trace, keep, deadline}
	}
	b.WriteString("WITH v (ord, namespace, name, version, kind, identity_key, input_hash, context, state, transition_seq, priority, queue, parent_id, unfinished, created_at, trace_context, retention_ms, deadline_us) AS (" +
		q.rows([]string{"int", "text", "text", "text", "text", "text", "text", "jsonb", "text", "int", "int", "text", "bigint", "int", "timestamptz", "text", "bigint", "bigint"}, tasks))
	b.WriteString(`),
ins AS (
	INSERT INTO tasker_tasks (namespace, name, version, kind, identity_key, input_hash, context, state, priority, queue, parent_id, unfinished, transition_seq, created_at, updated_at, trace_context, retention_ms, deadline_at)
	SELECT namespace, name, version, kind, identity_key, input_hash, context, state, priority, queue, parent_id, unfinished, transition_seq, created_at, created_at, trace_context, retention_ms,
		CAST(` + q.time(ps[0].Now, 0) + ` AS timestamptz) + deadline_us * interval '1 microsecond'
	FROM v ORDER BY ord
	ON CONFLICT (identity_key) DO NOTHING
	RETURNING id, identity_key, state, created_at, deadline_at
)`)
	var steps, edges [][]any
	for k, t := range rows {
		p := ps[k]
		var group *string
		if p.ConcGroup != "" {
			group = &p.ConcGroup
		}
		take := p.Leased()
		for i, ns := range p.Steps {
			var owner, ttl, tok any // the lease of a step this start claims
			if slices.Contains(take, i) {
				owner, ttl, tok = p.Lease.Owner, p.Lease.TTL.Microseconds(), token
			}
			limit := ns.RetryLimit
			if limit == 0 {
				limit = store.DefaultRetryLimit
			}
			var notBefore any
			if !ns.NotBefore.IsZero() {
				notBefore = ns.NotBefore.UTC()
			}
			steps = append(steps, []any{len(steps) + 1, t.IdentityKey, ns.Name, ns.Handler, ns.Sequence,
				nullJSON(ns.Config), nullJSON(ns.Policy), ns.Retryable, limit, ns.Skippable,
				group, p.ConcMax, rateSystem(ns), len(ns.DependsOn), notBefore, t.Priority,
				owner, ttl, tok})
			for _, dep := range ns.DependsOn {
				edges = append(edges, []any{t.IdentityKey, dep, ns.Name})
			}
		}
	}
	if len(steps) > 0 {
		b.WriteString(",\nsv (ord, identity_key, name, handler, sequence, config, policy, retryable, retry_limit, skippable, conc_group, conc_max, rate_system, pending_deps, not_before, priority, lease_owner, lease_ttl, lease_token) AS (" +
			q.rows([]string{"int", "text", "text", "text", "int", "jsonb", "jsonb", "boolean", "int", "boolean", "text", "int", "text", "int", "timestamptz", "int", "text", "bigint", "bigint"}, steps))
		b.WriteString(`),
clock (now) AS (SELECT CAST(` + q.time(ps[0].Now, 0) + ` AS timestamptz)),
st AS (
	INSERT INTO tasker_steps (task_id, name, handler, sequence, config, policy, retryable, retry_limit, attempts, skippable, queue, priority, conc_group, conc_max, rate_system, state, pending_deps, next_attempt_at,
		lease_owner, lease_expires_at, lease_token, started_at, transition_seq, created_at, updated_at)
	SELECT ins.id, sv.name, sv.handler, sv.sequence, sv.config, sv.policy, sv.retryable, sv.retry_limit,
		CASE WHEN sv.lease_owner IS NULL THEN 0 ELSE 1 END, sv.skippable, v.queue, sv.priority,
		sv.conc_group, sv.conc_max, sv.rate_system, CASE WHEN sv.lease_owner IS NULL THEN 'pending' ELSE 'in_progress' END,
		sv.pending_deps, coalesce(sv.not_before, clock.now),
		sv.lease_owner, clock.now + sv.lease_ttl * interval '1 microsecond', sv.lease_token,
		CASE WHEN sv.lease_owner IS NULL THEN NULL ELSE clock.now END,
		CASE WHEN sv.lease_owner IS NULL THEN 0 ELSE 1 END, ins.created_at, ins.created_at
	FROM sv JOIN ins ON ins.identity_key = sv.identity_key JOIN v ON v.identity_key = sv.identity_key CROSS JOIN clock
	ORDER BY sv.ord
	RETURNING id, task_id, name, state, created_at, lease_expires_at
)`)
	}
	if len(edges) > 0 {
		b.WriteString(",\nev (identity_key, from_name, to_name) AS (" + q.rows([]string{"text", "text", "text"}, edges))
		b.WriteString(`),
ed AS (
	INSERT INTO tasker_step_edges (task_id, from_step_id, to_step_id)
	SELECT ins.id, f.id, t.id FROM ev JOIN ins ON ins.identity_key = ev.identity_key
		JOIN st f ON f.task_id = ins.id AND f.name = ev.from_name
		JOIN st t ON t.task_id = ins.id AND t.name = ev.to_name
)`)
	}
	b.WriteString("\nSELECT id, identity_key, deadline_at, NULL::bigint AS step_id, NULL::text AS step_name, NULL::timestamptz AS lease_expires_at FROM ins")
	if len(steps) > 0 {
		b.WriteString("\nUNION ALL SELECT task_id, NULL, NULL, id, name, lease_expires_at FROM st WHERE state = 'in_progress'")
	}
	var inserted []struct {
		createdTask            // a task, or a step's task id
		IdentityKey *string    `bun:"identity_key"`
		StepID      *int64     `bun:"step_id"`
		StepName    *string    `bun:"step_name"`
		Expires     *time.Time `bun:"lease_expires_at"`
	}
	if err := s.scan(ctx, db, b.String(), q.args, &inserted); err != nil {
		return nil, nil, err
	}
	ids := make(map[string]createdTask, len(inserted))
	var leased map[stepKey]leasedStep
	for _, r := range inserted {
		if r.StepID == nil {
			ids[*r.IdentityKey] = r.createdTask
			continue
		}
		if leased == nil {
			leased = map[stepKey]leasedStep{}
		}
		leased[stepKey{r.ID, *r.StepName}] = leasedStep{id: *r.StepID, expires: r.Expires}
	}
	return ids, leased, nil
}

// leasedStep is a step a start's lease took, as the CTE wrote it.
type leasedStep struct {
	id      int64
	expires *time.Time
}

// nullJSON is a JSON document as a query argument, NULL when empty.
func nullJSON(doc store.JSON) any {
	if len(doc) == 0 {
		return nil
	}
	return string(doc)
}
