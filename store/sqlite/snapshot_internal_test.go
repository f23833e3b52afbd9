package sqlite

import (
	"context"
	"database/sql"
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"

	"github.com/tasker-go/tasker/store/internal/bunstore"
)

var update = flag.Bool("update", false, "rewrite schema.sql from the migrations")

// schema.sql is what replaying the migrations on a new database produces,
// and a new database opened from it has that schema and records every
// migration as applied. After adding a migration:
//
//	go test ./store/sqlite -run TestSchemaSnapshot -update
func TestSchemaSnapshot(t *testing.T) {
	ctx := context.Background()
	migrations, err := bunstore.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	replay := bun.NewDB(raw, sqlitedialect.New())
	defer replay.Close()
	if _, err := bunstore.Migrate(ctx, replay, migrations, bunstore.Snapshot{}, "the replay", nil); err != nil {
		t.Fatal(err)
	}
	replayed := dumpSchema(t, replay)
	want := bunstore.SnapshotHeader + strconv.Itoa(bunstore.LastVersion(migrations)) + "\n" + replayed
	if *update && schemaSnapshot != want {
		if err := os.WriteFile("schema.sql", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Fatal("schema.sql rewritten: run the test again without -update")
	}
	if schemaSnapshot != want {
		t.Fatalf("schema.sql is not what the migrations produce; rewrite it with\n\tgo test ./store/sqlite -run TestSchemaSnapshot -update\n--- schema.sql\n%s\n--- the migrations\n%s", schemaSnapshot, want)
	}

	s, err := Open(ctx, Memory, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := dumpSchema(t, s.DB()); got != replayed {
		t.Fatalf("a new database's schema differs from the migrations':\n--- new\n%s\n--- the migrations\n%s", got, replayed)
	}
	var versions []int
	if err := s.DB().NewRaw("SELECT version FROM tasker_schema_migrations ORDER BY version").Scan(ctx, &versions); err != nil {
		t.Fatal(err)
	}
	if len(versions) != len(migrations) {
		t.Fatalf("a new database records versions %v, want all %d migrations", versions, len(migrations))
	}
	for i, m := range migrations {
		if versions[i] != m.Version {
			t.Fatalf("a new database records versions %v, want those of the %d migrations", versions, len(migrations))
		}
	}
}

// dumpSchema is every statement of db's schema but SQLite's own tables and
// the migrations table (which Migrate creates first), tables first, each
// ending with a semicolon on its own line's end.
func dumpSchema(t *testing.T, db bun.IDB) string {
	t.Helper()
	var stmts []string
	err := db.NewRaw(`SELECT sql FROM sqlite_master
		WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'tasker_schema_migrations'
		ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid`).Scan(context.Background(), &stmts)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, q := range stmts {
		b.WriteString(q + ";\n")
	}
	return b.String()
}
