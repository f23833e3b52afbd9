package main

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

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
	var page struct {
		Tasks []struct{ ID int64 } `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(mustExecute(t, "tasks", "ls", "--json", "--db", db)), &page); err != nil || len(page.Tasks) != 5 {
		t.Fatalf("tasks ls --json: %d tasks (%v)", len(page.Tasks), err)
	}
}

// Read commands never create a schema: a typo in ?schema= is an error
// naming the schema and the command that creates it, and no schema appears.
func TestPostgresReadCommandsCreateNoSchema(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	typo := pgtest.NewSchema(t) // a fresh name; dropped afterwards if it appeared
	q := u.Query()
	q.Set("schema", typo)
	u.RawQuery = q.Encode()
	db := u.String()
	hint := `postgres schema "` + typo + `" does not exist: run ` + "`tasker migrate --db '"
	for _, args := range [][]string{{"tasks", "ls"}, {"tasks", "show", "1"}, {"tasks", "cancel", "1"}, {"events", "send", "1", "x"}} {
		mustFail(t, hint, append(args, "--db", db)...)
	}
	conn, err := pgx.Connect(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", typo).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("a read command created schema %s", typo)
	}
	mustFail(t, "--db: unsupported URL scheme \"mysql\"", "tasks", "ls", "--db", "mysql://"+u.Host+"/x")
}
