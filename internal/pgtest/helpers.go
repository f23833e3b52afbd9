package pgtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-go/tasker/store/postgres"
)

// Open opens a store on the test server in schema with a pool of maxConns,
// closed when the test ends.
func Open(t testing.TB, schema string, maxConns int) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), URL(t), &postgres.Options{Schema: schema, MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// WaitFor checks cond every tick until it holds, failing the test after
// timeout: for conditions on rows other processes write.
func WaitFor(t testing.TB, what string, timeout, tick time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tk.C
	}
}

// GrowTasks adds n finished one-step tasks to schema's tables in two
// statements, with autovacuum off on them (only an explicit ANALYZE
// updates their statistics), and flushes the connection's table
// statistics so pg_stat_user_tables counts the rows at once.
func GrowTasks(t testing.TB, schema string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, URL(t))
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer conn.Close(ctx)
	s := pgx.Identifier{schema}.Sanitize()
	for _, q := range []string{
		"ALTER TABLE " + s + ".tasker_tasks SET (autovacuum_enabled = false)",
		"ALTER TABLE " + s + ".tasker_steps SET (autovacuum_enabled = false)",
		`INSERT INTO ` + s + `.tasker_tasks (namespace, name, version, kind, identity_key, input_hash, context, state, priority, queue, unfinished, transition_seq, created_at, updated_at, completed_at)
			SELECT 'grown', 'one', '', 'dag', 'grown-' || g, '', '{}', 'complete', 0, 'default', 0, 2, now(), now(), now() FROM generate_series(1, $1) g`,
		`INSERT INTO ` + s + `.tasker_steps (task_id, name, handler, retryable, retry_limit, attempts, skippable, queue, priority, state, pending_deps, next_attempt_at, transition_seq, created_at, updated_at, completed_at, results)
			SELECT id, 'a', 'a', true, 3, 1, false, 'default', 0, 'complete', 0, now(), 2, now(), now(), now(), '1' FROM ` + s + `.tasker_tasks WHERE namespace = 'grown'`,
		"SELECT pg_stat_force_next_flush()",
		"SELECT 1", // the flush happens as this statement ends
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = []any{n}
		}
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
