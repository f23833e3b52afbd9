package bunstore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads files named NNN_name.sql from dir in fsys, in order.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %q: want NNN_name.sql", e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

// Snapshot is the schema that applying every migration up to Version
// produces, as one script of statements (each ending a line with a
// semicolon; lines starting with -- are comments).
type Snapshot struct {
	Version int
	SQL     string
}

// ParseSnapshot reads a snapshot whose first line is
// "-- schema at migration N".
func ParseSnapshot(text string) (Snapshot, error) {
	first, _, _ := strings.Cut(text, "\n")
	n, ok := strings.CutPrefix(strings.TrimSpace(first), SnapshotHeader)
	v, err := strconv.Atoi(n)
	if !ok || err != nil {
		return Snapshot{}, fmt.Errorf("schema snapshot: first line %q, want %q followed by a version", first, SnapshotHeader)
	}
	return Snapshot{Version: v, SQL: text}, nil
}

// SnapshotHeader starts a snapshot's first line, before its version.
const SnapshotHeader = "-- schema at migration "

// Migrate applies the migrations not yet recorded in
// tasker_schema_migrations, all in one transaction. lock, when set, runs
// first inside that transaction (Postgres takes an advisory lock there so
// two processes migrating at once apply each change once, and creates the
// schema), its errors returned as they are: they name their step.
//
// A database with no migration recorded gets snapshot instead, when it is
// at the last migration's version, and every migration is recorded as
// applied: the same schema from one script. (SQLite re-reads its whole
// schema after every ALTER TABLE: replaying the 17 migrations took 600 ms
// per fresh database under the race detector, the snapshot 150 ms.) A
// snapshot of another version is ignored: the migrations are replayed.
//
// A database with a version recorded past the last of migrations (a newer
// Tasker migrated it) is refused with a *store.SchemaError naming it as
// where, and nothing is applied: this code would run on tables it does
// not know.
func Migrate(ctx context.Context, db *bun.DB, migrations []Migration, snapshot Snapshot, where string, lock func(ctx context.Context, tx bun.Tx) error) (applied int, err error) {
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if lock != nil {
			if err := lock(ctx, tx); err != nil {
				return err // lock's errors say which of its steps failed
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS tasker_schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)`); err != nil {
			return fmt.Errorf("creating schema version table: %w", err)
		}
		var done []int
		if err := tx.NewRaw("SELECT version FROM tasker_schema_migrations").Scan(ctx, &done); err != nil {
			return fmt.Errorf("reading schema version: %w", err)
		}
		if len(done) > 0 && slices.Max(done) > LastVersion(migrations) {
			return &store.SchemaError{Database: where, Found: slices.Max(done), Want: LastVersion(migrations)}
		}
		exec := func(what, script string) error {
			for _, stmt := range splitStatements(script) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w\n%s", what, err, stmt)
				}
			}
			return nil
		}
		fresh := len(done) == 0 && snapshot.SQL != "" && snapshot.Version == LastVersion(migrations)
		if fresh {
			if err := exec(fmt.Sprintf("schema snapshot at migration %d", snapshot.Version), snapshot.SQL); err != nil {
				return err
			}
		}
		for _, m := range migrations {
			if slices.Contains(done, m.Version) {
				continue
			}
			if !fresh { // (else in the snapshot already)
				if err := exec(fmt.Sprintf("migration %03d_%s", m.Version, m.Name), m.SQL); err != nil {
					return err
				}
			}
			if _, err := tx.NewRaw("INSERT INTO tasker_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.Version, m.Name, time.Now().UTC()).Exec(ctx); err != nil {
				return err
			}
			applied++
		}
		return nil
	})
	return applied, err
}

// SchemaVersion returns the highest applied migration.
func SchemaVersion(ctx context.Context, db bun.IDB) (int, error) {
	var v []int
	err := db.NewRaw("SELECT coalesce(max(version), 0) FROM tasker_schema_migrations").Scan(ctx, &v)
	if err != nil || len(v) == 0 {
		return 0, err
	}
	return v[0], nil
}

// CheckVersion returns nil when db's schema is at the version of the last
// of migrations, or a *store.SchemaError saying which version it found and
// which it needs. db must hold the version table (the caller checks that it
// exists, in its own dialect, and reports a *store.SchemaError with Found 0
// when not). where names the database.
func CheckVersion(ctx context.Context, db bun.IDB, migrations []Migration, where string) error {
	v, err := SchemaVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("reading the schema version of %s: %w", where, err)
	}
	if want := LastVersion(migrations); v != want {
		return &store.SchemaError{Database: where, Found: v, Want: want}
	}
	return nil
}

// LastVersion is the version migrations bring a schema to.
func LastVersion(migrations []Migration) int {
	if len(migrations) == 0 {
		return 0
	}
	return migrations[len(migrations)-1].Version
}

// splitStatements splits a migration on semicolons that end a line; our
// migrations keep one statement per such line ending and no procedural code.
func splitStatements(sqlText string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sqlText, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
