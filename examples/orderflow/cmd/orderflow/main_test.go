package main

import (
	"strings"
	"testing"
)

// Arguments are refused: the command takes none, and ignored `orderflow
// 100` ran ten orders as if it had been asked for them.
func TestArgumentsRefused(t *testing.T) {
	if err := checkArgs([]string{"100"}); err == nil || !strings.Contains(err.Error(), `orderflow takes no arguments, got ["100"]`) {
		t.Fatalf("checkArgs(100): %v", err)
	}
	if err := checkArgs(nil); err != nil {
		t.Fatalf("checkArgs(none): %v", err)
	}
}
