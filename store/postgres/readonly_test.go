package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
)

// relations counts the tables and indexes in schema (-1: no such schema).
func relations(t *testing.T, schema string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	var n int
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
		(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1)`, schema).Scan(&exists, &n)
	if err != nil {
		t.Fatal(err)
	}
	if !exists {
		return -1
	}
	return n
}

func openReadOnly(t *testing.T, dsn, schema string) (*postgres.Store, error) {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, &postgres.Options{Schema: schema, MaxConns: 2, ReadOnly: true})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

// A read-only open of a schema that is not there (a typo in ?schema=)
// creates nothing and names the schema.
func TestReadOnlyRefusesAMissingSchema(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t) // a fresh name, not created
	_, err := openReadOnly(t, pgtest.URL(t), schema)
	var se *store.SchemaError
	if !errors.As(err, &se) || !se.Absent || !errors.Is(err, store.ErrNotMigrated) {
		t.Fatalf("err = %v, want a *store.SchemaError for an absent schema", err)
	}
	if want := `postgres schema "` + schema + `" does not exist`; !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %q, want %q", err, want)
	}
	if n := relations(t, schema); n != -1 {
		t.Fatalf("the read-only open created schema %s (%d relations)", schema, n)
	}
}

// An existing schema without Tasker's tables, or with an older version of
// them, is refused and left alone.
func TestReadOnlyRefusesAnUnmigratedSchema(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t)
	pgtest.Exec(t, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	_, err := openReadOnly(t, pgtest.URL(t), schema)
	var se *store.SchemaError
	if !errors.As(err, &se) || se.Absent || se.Found != 0 || se.Want < 1 {
		t.Fatalf("err = %v, want a *store.SchemaError with Found 0", err)
	}
	if n := relations(t, schema); n != 0 {
		t.Fatalf("the read-only open created %d relations in %s", n, schema)
	}

	rw := open(t, schema, nil)
	want, err := rw.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.DB().Exec("DELETE FROM tasker_schema_migrations WHERE version = ?", want); err != nil {
		t.Fatal(err)
	}
	older, err := rw.SchemaVersion(context.Background()) // versions need not be contiguous
	if err != nil {
		t.Fatal(err)
	}
	_, err = openReadOnly(t, pgtest.URL(t), schema)
	if !errors.As(err, &se) || se.Found != older || se.Want != want {
		t.Fatalf("err = %v, want a *store.SchemaError found %d want %d", err, older, want)
	}
	if v, err := rw.SchemaVersion(context.Background()); err != nil || v != older {
		t.Fatalf("the read-only open changed the version to %d (%v)", v, err)
	}
}

// A migrated schema reads as usual and refuses writes.
func TestReadOnlyReadsATaskerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := pgtest.NewSchema(t)
	rw := open(t, schema, nil)
	p := &store.CreateTaskParams{Namespace: "ns", Name: "wf", Version: "1", Kind: store.KindDAG,
		IdentityKey: "one", Steps: []store.NewStep{{Name: "a", Handler: "h", RetryLimit: 1}}}
	if _, err := rw.CreateTask(ctx, p); err != nil {
		t.Fatal(err)
	}
	ro, err := openReadOnly(t, pgtest.URL(t), schema)
	if err != nil {
		t.Fatal(err)
	}
	if ro.Schema() != schema {
		t.Fatalf("Schema() = %q, want %q", ro.Schema(), schema)
	}
	page, err := ro.ListTasks(ctx, &store.ListTasksParams{Limit: 10})
	if err != nil || len(page.Tasks) != 1 {
		t.Fatalf("read-only store lists %d tasks (%v), want 1", len(page.Tasks), err)
	}
	p.IdentityKey = "two"
	if _, err := ro.CreateTask(ctx, p); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("a read-only store created a task: err = %v", err)
	}
}

// With Options.Schema empty, Open uses the connection's current schema:
// it migrates it but never creates a schema, and a read-only open there
// refuses a search_path that names no existing schema.
func TestEmptySchemaOptionUsesTheCurrentSchema(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t)
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsn := u.String()

	for _, readOnly := range []bool{true, false} {
		_, err = postgres.Open(context.Background(), dsn, &postgres.Options{MaxConns: 2, ReadOnly: readOnly})
		if err == nil || !strings.Contains(err.Error(), "search_path names no existing schema") {
			t.Fatalf("read-only %v: err = %v, want the search_path named", readOnly, err)
		}
	}
	if n := relations(t, schema); n != -1 {
		t.Fatalf("Open with an empty Schema created schema %s", schema)
	}
	pgtest.Exec(t, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	s, err := postgres.Open(context.Background(), dsn, &postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Schema() != schema || relations(t, schema) < 8 {
		t.Fatalf("Schema() = %q with %d relations, want Tasker's tables in %s", s.Schema(), relations(t, schema), schema)
	}
	ro, err := postgres.Open(context.Background(), dsn, &postgres.Options{MaxConns: 2, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()
}

// A schema a newer Tasker migrated is refused by a read-write Open and by
// Migrate, with both versions, and left as it was: both applied nothing
// and went on, and a worker of this version ran on a schema it does not
// know.
func TestOpenRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t)
	rw := open(t, schema, nil)
	ctx := context.Background()
	want, err := rw.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newer := want + 1
	if _, err := rw.DB().Exec("INSERT INTO tasker_schema_migrations (version, name, applied_at) VALUES (?, 'future', now())", newer); err != nil {
		t.Fatal(err)
	}
	before := relations(t, schema)
	check := func(what string, err error) {
		t.Helper()
		var se *store.SchemaError
		if !errors.As(err, &se) || se.Found != newer || se.Want != want || !strings.Contains(se.Database, schema) {
			t.Fatalf("%s: err = %v, want a *store.SchemaError of schema %s found %d want %d", what, err, schema, newer, want)
		}
	}
	_, err = postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: schema, MaxConns: 2})
	check("Open", err)
	_, err = rw.Migrate(ctx)
	check("Migrate", err)
	if n := relations(t, schema); n != before {
		t.Fatalf("the refused open left %d relations in %s, not %d", n, schema, before)
	}
	if v, err := rw.SchemaVersion(ctx); err != nil || v != newer {
		t.Fatalf("the refused open changed the version to %d (%v)", v, err)
	}
}

// Migrate on a store opened read-only is refused saying so: it failed in
// the server's words ("cannot execute CREATE TABLE in a read-only
// transaction"), even on a schema with nothing to apply.
func TestReadOnlyMigrateRefused(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t)
	open(t, schema, nil)
	ro, err := openReadOnly(t, pgtest.URL(t), schema)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ro.Migrate(context.Background())
	if want := fmt.Sprintf("migrating postgres schema %q: the store is read-only (Options.ReadOnly)", schema); err == nil || err.Error() != want || n != 0 {
		t.Fatalf("Migrate = %d, %v; want 0 and %q", n, err, want)
	}
}

// A schema Open cannot create is refused naming that step: the error said
// "locking for migration", the advisory lock taken beside it, whatever
// the server's reason (a reserved name here; elsewhere a role without the
// CREATE privilege on the database).
func TestOpenNamesTheSchemaItCannotCreate(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(context.Background(), pgtest.URL(t), &postgres.Options{Schema: "pg_tasker", MaxConns: 2})
	const want = `migrating postgres schema "pg_tasker": creating the schema: ERROR: unacceptable schema name "pg_tasker"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v, want it to start %q", err, want)
	}
}

// A schema named as an existing one but for case ("Shop" beside shop) is
// refused, naming both, and not created: Open created a second, empty
// schema beside the one meant (PostgreSQL folds unquoted names to lower
// case; Options.Schema is taken as written), and the program saw none of
// its tasks.
func TestOpenRefusesASchemaThatDiffersOnlyInCase(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t)
	open(t, schema, nil)
	upper := strings.ToUpper(schema)
	t.Cleanup(func() { pgtest.Exec(t, "DROP SCHEMA IF EXISTS "+pgx.Identifier{upper}.Sanitize()+" CASCADE") })
	st, err := postgres.Open(context.Background(), pgtest.URL(t), &postgres.Options{Schema: upper, MaxConns: 2})
	if err == nil {
		st.Close()
	}
	want := fmt.Sprintf("migrating postgres schema %q: there is no schema %q, but there is %q (the name is taken as written, case and all): write %q", upper, upper, schema, schema)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if n := relations(t, upper); n != -1 {
		t.Fatalf("the refused open created schema %s (%d relations)", upper, n)
	}
}
