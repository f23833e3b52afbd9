package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestHotPathsUseIndexes pins the query plans of the hot paths, so an index
// change that turns one into a table scan fails here.
func TestHotPathsUseIndexes(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "plan.db"))
	ctx := context.Background()
	var handlers []string
	for i := range 200 {
		handlers = append(handlers, fmt.Sprintf("'handler.%d'", i))
	}
	cases := []struct{ name, query, want string }{
		{"claim by priority, one queue, 200 handlers", `SELECT s.id FROM tasker_steps s CROSS JOIN tasker_tasks t
			WHERE t.id = s.task_id AND s.state = 'pending' AND s.pending_deps = 0 AND s.next_attempt_at <= '2030-01-01'
			AND t.state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually') AND s.conc_group IS NULL AND s.rate_system IS NULL AND s.handler IN (` + strings.Join(handlers, ",") + `) AND s.queue IN ('default')
			AND s.priority > 0 ORDER BY s.priority DESC, s.next_attempt_at, s.id LIMIT 100`, "tasker_steps_claim_priority (queue=? AND priority>?)"},
		{"claim FIFO, four queues, 200 handlers", `SELECT s.id FROM tasker_steps s CROSS JOIN tasker_tasks t
			WHERE t.id = s.task_id AND s.state = 'pending' AND s.pending_deps = 0 AND s.next_attempt_at <= '2030-01-01'
			AND t.state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually') AND s.conc_group IS NULL AND s.rate_system IS NULL AND s.handler IN (` + strings.Join(handlers, ",") + `)
			AND s.queue IN ('q0', 'q1', 'q2', 'q3') ORDER BY s.next_attempt_at, s.id LIMIT 100`, "tasker_steps_ready"},
		{"claim gated steps", `SELECT s.id, s.conc_group, s.conc_max, s.rate_system FROM tasker_steps s CROSS JOIN tasker_tasks t
			WHERE t.id = s.task_id AND s.state = 'pending' AND s.pending_deps = 0 AND (s.conc_group IS NOT NULL OR s.rate_system IS NOT NULL)
			AND s.next_attempt_at <= '2030-01-01' AND t.state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually') AND s.queue IN ('default')
			ORDER BY s.priority DESC, s.next_attempt_at, s.id LIMIT 100`, "tasker_steps_claim_gated"},
		{"running steps of a group", `SELECT conc_group, count(*) FROM tasker_steps WHERE state = 'in_progress' AND conc_group IN ('g1', 'g2') GROUP BY conc_group`, "tasker_steps_running_group"},
		{"ready-step claim", `SELECT s.id FROM tasker_steps s CROSS JOIN tasker_tasks t
			WHERE t.id = s.task_id AND s.state = 'pending' AND s.pending_deps = 0 AND s.next_attempt_at <= '2030-01-01'
			AND t.state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually') ORDER BY s.next_attempt_at, s.id LIMIT 100`, "tasker_steps_ready"},
		{"steps by task", `SELECT * FROM tasker_steps WHERE task_id = 1 ORDER BY id`, "sqlite_autoindex_tasker_steps_1"},
		{"lease rescue", `SELECT id FROM tasker_steps s WHERE s.state = 'in_progress' AND s.lease_expires_at < '2030-01-01' ORDER BY s.lease_expires_at LIMIT 10`, "tasker_steps_leases"},
		{"transitions by task", `SELECT * FROM tasker_step_transitions WHERE step_id IN (SELECT id FROM tasker_steps WHERE task_id = 1) ORDER BY id`, "sqlite_autoindex_tasker_step_transitions_1"},
		{"dependants of a step", `SELECT to_step_id FROM tasker_step_edges WHERE from_step_id IN (1, 2)`, "sqlite_autoindex_tasker_step_edges_1"},
		{"dependencies of a step", `SELECT from_step_id FROM tasker_step_edges WHERE to_step_id = 3`, "tasker_step_edges_to"},
		{"task by identity", `SELECT id FROM tasker_tasks WHERE identity_key = 'k'`, "sqlite_autoindex_tasker_tasks_1"},
	}
	for _, c := range cases {
		rows, err := s.DB().QueryContext(ctx, "EXPLAIN QUERY PLAN "+c.query)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, " | ")
		if !strings.Contains(joined, c.want) {
			t.Errorf("%s: plan %q does not use %s", c.name, joined, c.want)
		}
		t.Logf("%s: %s", c.name, joined)
	}
}
