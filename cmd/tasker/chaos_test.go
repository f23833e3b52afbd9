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
}
