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
