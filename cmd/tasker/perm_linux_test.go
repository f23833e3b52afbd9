package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// asNobody runs fn with the permissions of an ordinary user: as root (who
// may write any file) it switches the process's user ids to nobody's for
// fn, keeping root as the saved one to switch back to. Its callers are
// not parallel, so no other test runs meanwhile.
func asNobody(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		fn()
		return
	}
	const nobody = 65534
	if err := syscall.Setresuid(nobody, nobody, 0); err != nil {
		t.Skipf("cannot switch to nobody: %v", err)
	}
	defer func() {
		if err := syscall.Setresuid(0, 0, 0); err != nil {
			panic(err) // the other tests would run as nobody
		}
	}()
	fn()
}

// A command that writes to an SQLite file this user may only read is
// refused saying so, in words for a CLI user: the store's error told them
// to set Options.ReadOnly. Refused, it leaves nothing beside the file: the
// commands that need the database to exist opened it read-only first,
// and SQLite made its -wal and -shm files, this user's, where the owner's
// writer then could not write them. A command that reads reads it.
func TestWritersRefuseAFileTheyCannotWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(filepath.Dir(dir)), filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(dir, "ro.db")
	mustExecute(t, "migrate", "--db", db)
	if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}
	asNobody(t, func() {
		for _, args := range [][]string{{"migrate"}, {"tasks", "cancel", "1"}} {
			_, err := execute(t, t.Context(), append(args, "--db", db)...)
			if want := "opening sqlite " + db + ": it is not writable (access " + db + ": permission denied)"; err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "Options") {
				t.Errorf("tasker %s: %v, want it to start %q and name no Go option", args[0], err, want)
			}
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(db + suffix); err == nil {
				t.Errorf("the refused commands left %s%s", db, suffix)
			}
		}
		if out := mustExecute(t, "tasks", "ls", "--db", db); !strings.Contains(out, "no tasks") {
			t.Errorf("tasks ls: %s", out)
		}
	})
}
