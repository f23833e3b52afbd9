package main

import (
	"net/url"
	"testing"

	"github.com/tasker-go/tasker/internal/pgtest"
)

// The same commands on PostgreSQL, in a schema of the test's own
// (?schema= in the URL). Skips without TASKER_TEST_POSTGRES_URL.
func TestPostgresBackend(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	schema := pgtest.NewSchema(t)
	q := u.Query()
	q.Set("schema", schema)
	u.RawQuery = q.Encode()
	db := u.String()

	out := mustExecute(t, "migrate", "--db", db)
	wantMatch(t, out, `^schema version [1-9]\d* \(PostgreSQL .* \(schema `+schema+`\)\)\n$`)

	out = mustExecute(t, "demo", "--orders", "5", "--db", db)
	wantMatch(t, out, `on PostgreSQL `)
	wantMatch(t, out, `(?m)^  complete\s+5$`)
	wantMatch(t, out, `(?m)^retries\s+1$`)

	if r := rows(mustExecute(t, "tasks", "ls", "--db", db, "--state", "complete")); len(r) != 5 {
		t.Fatalf("tasks ls lists %d complete tasks, want 5", len(r))
	}
	out = mustExecute(t, "tasks", "show", "3", "--db", db)
	wantMatch(t, out, `step charge_payment\s+in_progress → pending\s+retryable: charging order 3`)
	mustFail(t, "cannot cancel task 1: it is complete", "tasks", "cancel", "1", "--db", db)
}
