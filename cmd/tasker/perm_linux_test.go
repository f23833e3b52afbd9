package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/internal/writable/writabletest"
)

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
	writabletest.AsNobody(t, func() {
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
