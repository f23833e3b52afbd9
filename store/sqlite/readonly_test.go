package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// noSidecars fails when SQLite left a -wal, -shm or -journal file by path.
func noSidecars(t *testing.T, path string) {
	t.Helper()
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s%s exists after the open (%v)", path, suffix, err)
		}
	}
}

func readOnly(path string) (*sqlite.Store, error) {
	return sqlite.Open(context.Background(), path, &sqlite.Options{ReadOnly: true})
}

// A plain SQLite file of someone else's is refused, not migrated: it stays
// byte for byte what it was.
func TestReadOnlyRefusesAForeignDatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "notes.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('keep me')"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before := sum(t, path)
	st, err := readOnly(path)
	if err == nil {
		st.Close()
		t.Fatal("a foreign database opened read-only")
	}
	var se *store.SchemaError
	if !errors.Is(err, store.ErrNotMigrated) || !errors.As(err, &se) || se.Found != 0 || se.Want < 1 {
		t.Fatalf("err = %v, want a *store.SchemaError with Found 0", err)
	}
	if !strings.Contains(err.Error(), path+" is not a Tasker database") {
		t.Fatalf("err = %q, want it to name the file", err)
	}
	if sum(t, path) != before {
		t.Fatal("the foreign database changed")
	}
	noSidecars(t, path)
}

func TestReadOnlyRefusesAFileThatIsNotSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	before := sum(t, path)
	_, err := readOnly(path)
	if err == nil || !strings.Contains(err.Error(), path+": it is not an SQLite database") {
		t.Fatalf("err = %v, want it to say the file is not an SQLite database", err)
	}
	if sum(t, path) != before {
		t.Fatal("the file changed")
	}
	noSidecars(t, path)
}

func TestReadOnlyCreatesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "missing.db")
	_, err := readOnly(path)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want fs.ErrNotExist naming %s", err, path)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the read-only open left %d files in %s", len(entries), dir)
	}
	if _, err := readOnly(sqlite.Memory); err == nil {
		t.Fatal("an in-memory database opened read-only")
	}
}

// A Tasker database at an older schema version is refused with the
// versions, and not upgraded.
func TestReadOnlyRefusesAnOlderSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	s := open(t, path)
	want, err := s.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec("DELETE FROM tasker_schema_migrations WHERE version = ?", want); err != nil {
		t.Fatal(err)
	}
	older, err := s.SchemaVersion(context.Background()) // versions need not be contiguous
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := sum(t, path)
	_, err = readOnly(path)
	var se *store.SchemaError
	if !errors.As(err, &se) || se.Found != older || se.Want != want {
		t.Fatalf("err = %v, want a *store.SchemaError found %d want %d", err, older, want)
	}
	if sum(t, path) != before {
		t.Fatal("the old database changed")
	}
}

// A Tasker database reads as usual, refuses writes, and stays as it was;
// beside a running writer it sees what that writer committed.
func TestReadOnlyReadsATaskerDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tasker.db")
	w := open(t, path)
	create := func(key string) {
		t.Helper()
		_, err := w.CreateTask(ctx, &store.CreateTaskParams{Namespace: "ns", Name: "wf", Version: "1", Kind: store.KindDAG,
			IdentityKey: key, Steps: []store.NewStep{{Name: "a", Handler: "h", RetryLimit: 1}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	create("one")

	r, err := readOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	create("two") // the writer is still open: WAL
	page, err := r.ListTasks(ctx, &store.ListTasksParams{Limit: 10})
	if err != nil || len(page.Tasks) != 2 {
		t.Fatalf("read-only store lists %d tasks (%v), want 2", len(page.Tasks), err)
	}
	_, err = r.CreateTask(ctx, &store.CreateTaskParams{Namespace: "ns", Name: "wf", Version: "1", Kind: store.KindDAG,
		IdentityKey: "three", Steps: []store.NewStep{{Name: "a", Handler: "h", RetryLimit: 1}}})
	if err == nil {
		t.Fatal("a read-only store created a task")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// Closed by everyone: a read-only open leaves the file as it was. (To
	// read a WAL database safely SQLite needs its -wal and -shm files and
	// makes them when missing; the database file itself does not change.)
	before := sum(t, path)
	r, err = readOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	if page, err := r.ListTasks(ctx, &store.ListTasksParams{Limit: 10}); err != nil || len(page.Tasks) != 2 {
		t.Fatalf("after the writer closed: %d tasks (%v), want 2", len(page.Tasks), err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if sum(t, path) != before {
		t.Fatal("a read-only open changed the database")
	}
}

// Open does not create a missing directory: the error names it.
func TestOpenNeedsTheDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "typo")
	_, err := sqlite.Open(context.Background(), filepath.Join(dir, "tasker.db"), nil)
	if err == nil || !strings.Contains(err.Error(), "directory "+dir) {
		t.Fatalf("err = %v, want it to name the directory %s", err, dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open created %s (%v)", dir, err)
	}
	if _, err := sqlite.Open(context.Background(), "", nil); err == nil {
		t.Fatal("an empty path opened")
	}
}

// A path that is a directory (--db /var/lib/tasker, the file's name left
// out) is refused saying so, as a read-only Open refuses it: Open failed
// in SQLite's words, "unable to open database file (14)", which named
// neither the path's problem nor the fix.
func TestOpenRefusesADirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, ro := range []bool{false, true} {
		_, err := sqlite.Open(context.Background(), dir, &sqlite.Options{ReadOnly: ro})
		if want := "opening sqlite " + dir + ": it is a directory"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s, read-only %v): %v, want an error saying %q", dir, ro, err, want)
		}
	}
}

// A database a newer Tasker migrated is refused by a read-write Open too,
// with both versions, and left as it was: Open applied nothing and went
// on, and a worker of this version ran on a schema it does not know.
func TestOpenRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "new.db")
	s := open(t, path)
	want, err := s.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	newer := want + 1
	if _, err := s.DB().Exec("INSERT INTO tasker_schema_migrations (version, name, applied_at) VALUES (?, 'future', '2030-01-01')", newer); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := sum(t, path)
	_, err = sqlite.Open(context.Background(), path, nil)
	var se *store.SchemaError
	if !errors.As(err, &se) || se.Found != newer || se.Want != want || se.Database != path {
		t.Fatalf("err = %v, want a *store.SchemaError of %s found %d want %d", err, path, newer, want)
	}
	if !strings.Contains(err.Error(), "newer than this program's") || strings.Count(err.Error(), path) != 1 {
		t.Fatalf("err = %q, want the path once and that the schema is newer", err)
	}
	if sum(t, path) != before {
		t.Fatal("the refused open changed the database")
	}
}

// A read-write Open that fails to migrate someone else's database (a
// table of its own is named as one of Tasker's) leaves it byte for byte
// as it was: it switched the file to WAL before migrating, so the refused
// open left it in another journal mode than its owner chose.
func TestRefusedOpenLeavesAForeignDatabaseAlone(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE tasker_tasks (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO tasker_tasks (title) VALUES ('keep me')"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before := sum(t, path)
	st, err := sqlite.Open(context.Background(), path, nil)
	if err == nil {
		st.Close()
		t.Fatal("a database with a foreign tasker_tasks table opened")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "tasker_tasks already exists") {
		t.Fatalf("err = %v, want it to name the file and the table", err)
	}
	if sum(t, path) != before {
		t.Fatal("the refused open changed the database")
	}
	noSidecars(t, path)

	// Opened, a new file and someone else's existing one are in WAL mode.
	for _, p := range []string{filepath.Join(t.TempDir(), "new.db"), path} {
		if p == path {
			if _, err := openRaw(t, p).Exec("DROP TABLE tasker_tasks"); err != nil {
				t.Fatal(err)
			}
		}
		var mode string
		if err := open(t, p).DB().QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("%s: journal mode %q (%v), want wal", p, mode, err)
		}
	}
}
