package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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

// --config given empty (--config "$CONFIG" with the variable unset) is
// refused before anything is opened: it was read as no file, and the
// worker ran on the demo's file, creating it, as db: "" once did.
func TestEmptyConfigFlagRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	mustFail(t, "--config is empty: give the configuration file's path, or leave --config out", "worker", "--config", "")
	mustFail(t, "--config is empty", "serve", "--config", " ")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused command left %d entries in %s", len(entries), dir)
	}
}

// --config or TASKER_CONFIG with spaces around it (a padded variable) is
// refused naming it, before anything is opened: it failed reading, with
// "open  x.yaml: no such file", the space hard to see and the source
// unnamed.
func TestPaddedConfigRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	f := writeFile(t, dir, "c.yaml", "retry: {max: 1h}\n")
	mustFail(t, `--config " `+f+`" has spaces around it: write "`+f+`"`, "worker", "--config", " "+f)
	mustFail(t, `--config "`+f+`\t" has spaces around it`, "lint", "--config", f+"\t", f)
	t.Setenv("TASKER_CONFIG", f+" ")
	mustFail(t, `TASKER_CONFIG "`+f+` " has spaces around it: write "`+f+`"`, "serve")
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("a refused command left %d entries in %s, want the configuration file alone", len(entries), dir)
	}
}

// TASKER_DB is the default of every command's --db, not only worker's and
// serve's: with it set for the worker, tasks ls read the demo's file in
// the working directory (or told the user to migrate it). A bad value is
// refused naming TASKER_DB, and a bad db in --config naming its line, not
// a --db the user never gave.
func TestDBVariableIsEveryCommandsDefault(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	db := filepath.Join(dir, "real.db")
	mustExecute(t, "demo", "--orders", "2", "--db", db)
	t.Setenv("TASKER_DB", db)
	if r := rows(mustExecute(t, "tasks", "ls")); len(r) != 2 {
		t.Fatalf("tasks ls with TASKER_DB lists %d tasks, want the 2 of %s", len(r), db)
	}
	mustExecute(t, "tasks", "show", "1")
	// --db wins over the variable.
	mustFail(t, "no database at "+filepath.Join(dir, "other.db"), "tasks", "ls", "--db", filepath.Join(dir, "other.db"))
	if _, err := os.Stat(filepath.Join(dir, "tasker-demo.db")); !os.IsNotExist(err) {
		t.Fatalf("a command with TASKER_DB set opened the demo's file (stat: %v)", err)
	}
	// The demo writes its orders to its own file, not to TASKER_DB's.
	mustExecute(t, "demo", "--orders", "1")
	if r := rows(mustExecute(t, "tasks", "ls")); len(r) != 2 {
		t.Fatalf("after demo with TASKER_DB set, %s has %d tasks, want its 2", db, len(r))
	}
	if r := rows(mustExecute(t, "tasks", "ls", "--db", filepath.Join(dir, "tasker-demo.db"))); len(r) != 1 {
		t.Fatalf("the demo's own file has %d tasks, want 1", len(r))
	}
	if err := os.Remove(filepath.Join(dir, "tasker-demo.db")); err != nil {
		t.Fatal(err)
	}

	t.Setenv("TASKER_DB", "sqlite:x.db")
	mustFail(t, `TASKER_DB sqlite:x.db looks like a URL without "://"`, "tasks", "ls")
	mustFail(t, `TASKER_DB sqlite:x.db looks like a URL without "://"`, "worker")
	// A libpq key=value string (which pgx reads) created an SQLite file
	// of that name.
	t.Setenv("TASKER_DB", "host=db.internal dbname=tasker")
	mustFail(t, `TASKER_DB "host=db.internal dbname=tasker" is a PostgreSQL key=value connection string: write it as a postgres:// URL`, "migrate")
	mustFail(t, `--db "dbname = tasker" is a PostgreSQL key=value connection string`, "migrate", "--db", "dbname = tasker")
	t.Setenv("TASKER_DB", " ")
	mustFail(t, "TASKER_DB is empty", "tasks", "cancel", "1")
	os.Unsetenv("TASKER_DB")
	conf := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(conf, []byte("db: postgres//host/db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustFail(t, conf+`:1: db postgres//host/db looks like a URL without "://"`, "serve", "--config", conf)
	for _, name := range []string{"tasker-demo.db", "sqlite:x.db", "postgres", "host=db.internal dbname=tasker", "dbname = tasker"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("a refused command created %s (stat: %v)", name, err)
		}
	}
}

// TASKER_CONFIG is --config's default (worker, serve), as TASKER_DB is
// --db's: set, it was ignored, and the worker ran on the demo's file with
// the engine's defaults. Its file is read, and named in its errors;
// --config wins over it; set blank it is refused before anything is
// opened.
func TestConfigVariableIsConfigsDefault(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("execution:\n  lease_ttl: 1ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("execution:\n  lease_ttl: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TASKER_CONFIG", bad)
	// A command that read no file would open the demo's and stop at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, cmd := range []string{"worker", "serve"} {
		_, err := execute(t, ctx, cmd)
		if want := bad + ":2: execution.lease_ttl"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s with TASKER_CONFIG set: %v, want its file read (an error naming %q)", cmd, err, want)
		}
	}
	if _, err := execute(t, ctx, "worker", "--config", good, "--db", filepath.Join(dir, "w.db")); err != nil && strings.Contains(err.Error(), "lease_ttl") {
		t.Errorf("worker --config with TASKER_CONFIG set read the variable's file: %v", err)
	}
	empty := t.TempDir()
	t.Chdir(empty)
	t.Setenv("TASKER_CONFIG", " ")
	mustFail(t, "TASKER_CONFIG is empty: give the configuration file's path, or unset it", "worker")
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Fatalf("a refused worker left %d entries in %s", len(entries), empty)
	}
}
