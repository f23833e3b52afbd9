package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A task or token id with a sign ("+1") is refused naming it: ParseInt
// took "+1" as 1, so `tasker tasks cancel +1` cancelled task 1 though
// what was typed is no id the CLI prints. The database is not opened
// (nor created).
func TestSignedIDsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	for _, args := range [][]string{
		{"tasks", "show", "+1"},
		{"tasks", "cancel", "+1"},
		{"tasks", "retry", "+1"},
		{"tasks", "resolve", "+1", "a"},
		{"explain", "+1"},
		{"events", "send", "+1", "approval"},
	} {
		mustFail(t, `task id must be a positive integer, got "+1"`, append(args, "--db", db)...)
	}
	mustFail(t, `token id "+1": want a positive number`, "tokens", "revoke", "--db", db, "+1")
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused command touched the database: %v", err)
	}
}
