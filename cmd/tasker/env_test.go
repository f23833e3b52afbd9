package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMisspeltVariableRefused: a TASKER_ variable a slip away from one of
// the configuration's stops every command before it does anything, naming
// it and the variable it resembles; the test scripts' TASKER_TEST_… and an
// unrelated TASKER_ name are left alone.
func TestMisspeltVariableRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "env.db")
	t.Setenv("TASKER_EXECUTON_QUEUES", "mail")
	mustFail(t, "TASKER_EXECUTON_QUEUES: unknown variable; did you mean TASKER_EXECUTION_QUEUES?", "migrate", "--db", db)
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("the refused migrate touched %s (stat: %v)", db, err)
	}
	mustFail(t, "did you mean TASKER_EXECUTION_QUEUES?", "version")
	os.Unsetenv("TASKER_EXECUTON_QUEUES") // t.Setenv restores it (unset) at the end
	t.Setenv("TASKER_TEST_POSTGRES_URL", "postgres://127.0.0.1:1/none")
	t.Setenv("TASKER_FOO_BAR_BAZ", "1")
	mustExecute(t, "migrate", "--db", db)
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("migrate with only other TASKER_ variables set: %v", err)
	}
}

// TASKER_DB set empty is refused before anything is opened: the worker ran
// on the demo's file (./tasker-demo.db), creating it.
func TestEmptyDBVariableRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("TASKER_DB", "")
	mustFail(t, "TASKER_DB: db: is empty", "worker")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused worker left %d entries in %s", len(entries), dir)
	}
}
