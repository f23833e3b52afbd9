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
