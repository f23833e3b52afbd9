package sqlite_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/internal/writable/writabletest"
	"github.com/tasker-go/tasker/store/sqlite"
)

// permDir is a new directory everyone may use (t.TempDir's is its
// owner's alone), holding a Tasker database, db.db.
func permDir(t *testing.T) (dir, db string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "d")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// t.TempDir is a directory of its own in one of the test's own.
	for _, d := range []string{filepath.Dir(filepath.Dir(dir)), filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	db = filepath.Join(dir, "db.db")
	s, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(db + "-presence"); err != nil {
		t.Fatal(err)
	}
	return dir, db
}

// A read-write Open of a file this user may not write is refused, naming
// it (an error matching fs.ErrPermission): SQLite opened it read-only
// without a word, and the store failed at its first write ("attempt to
// write a readonly database", a worker's every claim). Nothing is created
// beside it; opened read-only, it reads.
func TestOpenRefusesAFileItCannotWrite(t *testing.T) {
	_, db := permDir(t)
	if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}
	before := sum(t, db)
	writabletest.AsNobody(t, func() {
		s, err := sqlite.Open(context.Background(), db, nil)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%s) of a file it cannot write: no error", db)
		}
		if want := "opening sqlite " + db + ": it is not writable"; !strings.Contains(err.Error(), want) || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("err = %v, want it to say %q and match fs.ErrPermission", err, want)
		}
		noSidecars(t, db)
		if _, err := os.Stat(db + "-presence"); err == nil {
			t.Errorf("the refused open created %s-presence", db)
		}
		s, err = sqlite.Open(context.Background(), db, &sqlite.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only: %v", err)
		}
		s.Close()
	})
	if sum(t, db) != before {
		t.Fatal("the database changed")
	}
}

// In a directory this user may not write, an Open that needs to create a
// file there (a new database, or a WAL database's -wal and -shm, which a
// read-only open needs too) is refused naming the directory: the errors
// were SQLite's, "unable to open database file (14)" and, for a read-only
// open, "attempt to write a readonly database (1544)".
func TestOpenNamesADirectoryItCannotWrite(t *testing.T) {
	dir, db := permDir(t)
	if err := os.Chmod(db, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	writabletest.AsNobody(t, func() {
		for _, c := range []struct {
			path string
			ro   bool
			want string
		}{
			{filepath.Join(dir, "new.db"), false, "opening sqlite " + filepath.Join(dir, "new.db") + ": directory " + dir + " is not writable"},
			{db, false, "opening sqlite " + db + ": directory " + dir + " is not writable"},
			{db, true, "opening sqlite " + db + ": directory " + dir + " is not writable"},
		} {
			s, err := sqlite.Open(context.Background(), c.path, &sqlite.Options{ReadOnly: c.ro})
			if err == nil {
				s.Close()
				t.Errorf("Open(%s, read-only %v): no error", c.path, c.ro)
			} else if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open(%s, read-only %v): %v, want it to say %q", c.path, c.ro, err, c.want)
			}
		}
	})
}
