package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/store/storetest"
)

func TestMain(m *testing.M) {
	if path := os.Getenv("TASKER_TEST_PRESENCE_CHILD"); path != "" {
		presenceChild(path) // exits
	}
	goleak.VerifyTestMain(m)
}

// presenceChild is the other process of TestPresence: it opens the store
// at path, says ready and holds it until its stdin closes.
func presenceChild(path string) {
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	s.Close()
	os.Exit(0)
}

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceFile(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "tasker.db"))
	})
}

func TestConformanceMemory(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) store.Store { return open(t, sqlite.Memory) })
}

// A URL is refused, naming what to give instead, and creates nothing:
// `tasker --db` takes sqlite://PATH, and that copied into Open failed with
// "directory sqlite: does not exist" (a postgres:// URL the same way). A
// path with spaces around it is refused too, as --db and TASKER_DB refuse
// it: Open created a second database named " x.db" beside x.db.
func TestOpenRefusesAURLOrAPaddedPath(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Chdir(dir)
	for _, c := range []struct{ path, want string }{
		{"sqlite://x.db", `"sqlite://x.db" is a URL, not a file's path: give the path alone ("x.db")`},
		{"sqlite://" + filepath.Join(dir, "x.db"), fmt.Sprintf("give the path alone (%q)", filepath.Join(dir, "x.db"))},
		{"postgres://u:p@db/app", `"postgres://u:p@db/app" is a URL, not a file's path: open PostgreSQL with postgres.Open`},
		{" x.db", `" x.db" has spaces around it: write "x.db"`},
		{"x.db\n", `"x.db\n" has spaces around it: write "x.db"`},
	} {
		for _, ro := range []bool{false, true} {
			s, err := sqlite.Open(ctx, c.path, &sqlite.Options{ReadOnly: ro})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q, ReadOnly %v) accepted it", c.path, ro)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open(%q, ReadOnly %v): %v; want it to say %s", c.path, ro, err, c.want)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused opens left %d files in %s", len(entries), dir)
	}
}

// A path that reads as an SQLite URI is refused, naming it, and creates
// nothing: its query would have been mixed into the store's own (x.db?mode=ro
// opened read-write). A '%' in a file's name is the file's.
func TestOpenTakesAPathNotAURI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, p := range []string{filepath.Join(dir, "x.db?mode=ro"), filepath.Join(dir, "x.db#frag"), "file:" + filepath.Join(dir, "x.db")} {
		for _, ro := range []bool{false, true} {
			s, err := sqlite.Open(ctx, p, &sqlite.Options{ReadOnly: ro})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q, ReadOnly %v) accepted a URI", p, ro)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "sqlite.Options") {
				t.Fatalf("Open(%q): %v; want the path named and sqlite.Options pointed to", p, err)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused opens left %d files in %s", len(entries), dir)
	}
	pct := filepath.Join(dir, "a%20b.db")
	s, err := sqlite.Open(ctx, pct, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(pct); err != nil {
		t.Fatalf("the database is not at %s: %v", pct, err)
	}
}

// A path with a NUL byte is refused naming it: SQLite read the path up to
// the NUL, and Open created and migrated another file ("x" for "x\x00y.db").
func TestOpenRefusesAPathWithNUL(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x\x00y.db")
	for _, ro := range []bool{false, true} {
		s, err := sqlite.Open(context.Background(), p, &sqlite.Options{ReadOnly: ro})
		if err == nil {
			s.Close()
		}
		if want := fmt.Sprintf("opening sqlite: %q has a NUL byte, which no file's path has", p); err == nil || err.Error() != want {
			t.Fatalf("Open(ReadOnly %v): %v, want %q", ro, err, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused opens left %d files in %s", len(entries), dir)
	}
}

// A path starting with two slashes is the path with one (POSIX), as a
// directory joined to a name by hand gives it ("/" + "/tasker.db"): it
// failed, "invalid uri authority", SQLite reading the first part as a
// URI's host. Read-only too.
func TestOpenTakesAPathWithTwoLeadingSlashes(t *testing.T) {
	dir := t.TempDir()
	p := "/" + filepath.Join(dir, "x.db")
	for _, ro := range []bool{false, true} {
		s, err := sqlite.Open(context.Background(), p, &sqlite.Options{ReadOnly: ro})
		if err != nil {
			t.Fatalf("Open(%q, ReadOnly %v): %v", p, ro, err)
		}
		s.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err != nil {
		t.Fatal(err)
	}
}
