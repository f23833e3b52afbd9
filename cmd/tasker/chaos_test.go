package main

import (
	"context"
	"strings"
	"testing"
)

// tasker chaos prints the table: here one scenario in its quick form.
func TestChaosCommand(t *testing.T) {
	out := mustExecute(t, "chaos", "--quick", "--only", "commit then error: CreateTasks")
	for _, want := range []string{"SCENARIO", "STALE WRITES REFUSED", "commit then error: CreateTasks", "sqlite"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := execute(t, context.Background(), "chaos", "--db", "oracle"); err == nil || !strings.Contains(err.Error(), "oracle") {
		t.Fatalf("--db oracle: %v", err)
	}
}

// --soak under a second (whose kill ticker panicked at 3ns) and --quick
// beside --soak (the soak ignored it) are refused before anything runs.
func TestChaosSoakFlagsAreChecked(t *testing.T) {
	mustFail(t, "--soak: 3ns is under 1s", "chaos", "--soak", "3ns")
	mustFail(t, "--quick and --soak", "chaos", "--soak", "1m", "--quick")
	mustFail(t, `--only "x" and --soak`, "chaos", "--soak", "1m", "--only", "x")
	// An empty --only ("$SCENARIO" unset) ran every scenario, as if it
	// had not been given (refused before --db is looked at).
	mustFail(t, `--only is empty (got ""): give part of a scenario's name`, "chaos", "--only", "", "--db", "oracle")
	mustFail(t, `--only is empty (got " ")`, "chaos", "--only", " ", "--db", "oracle")
	// An empty --db is refused as by every other command (it ran SQLite).
	mustFail(t, `--db is empty: give "sqlite" or a postgres:// URL`, "chaos", "--db", "", "--quick", "--only", "no such scenario")
}

// bench and chaos refuse a --db with ?schema=: each run or scenario gets a
// fresh schema of its own, and the schema named was dropped from the URL
// without a word. Refused before anything connects (the server named here
// does not exist; before, bench failed connecting and chaos on --only).
func TestFreshSchemaCommandsRefuseSchema(t *testing.T) {
	const db = "postgres://nobody@127.0.0.1:1/x?schema=mine&connect_timeout=1"
	mustFail(t, `--db: ?schema=mine does nothing here`, "bench", "--db", db, "--workloads", "W1", "--scale", "0.001")
	mustFail(t, `--db: ?schema=mine does nothing here`, "chaos", "--db", db, "--quick", "--only", "no such scenario")
}
