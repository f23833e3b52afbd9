package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// The README's CLI table is what a newcomer types from: each row's
// command must be one the CLI has, each --flag it shows one that command
// takes, and each command the CLI offers must have a row. Nothing else
// read the table, so a renamed flag or a new command could leave it
// behind.
func TestReadmeCLITableMatchesCommands(t *testing.T) {
	rows := readmeCLIRows(t)
	root := newRootCmd()
	documented := map[*cobra.Command]bool{}
	for _, row := range rows {
		// A row may show several forms, the later ones without "tasker":
		// `tasker tokens create …`, `tokens ls`, `schedules pause\|resume…`.
		for _, form := range regexp.MustCompile("`(?:tasker )?([^`]+)`").FindAllStringSubmatch(row, -1) {
			words, flags := splitUsage(form[1])
			for _, path := range expandAlternatives(words) {
				cmd, rest, err := root.Find(path)
				if err != nil || len(rest) > 0 || cmd == root {
					t.Errorf("README CLI table: `tasker %s`: no command %q", form[1], strings.Join(path, " "))
					continue
				}
				documented[cmd] = true
				for _, f := range flags {
					if cmd.Flags().Lookup(f) == nil && cmd.InheritedFlags().Lookup(f) == nil {
						t.Errorf("README CLI table: `tasker %s`: %s has no flag --%s", form[1], cmd.CommandPath(), f)
					}
				}
			}
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || !sub.IsAvailableCommand() || sub.Name() == "completion" || sub.Name() == "help" {
				continue
			}
			if sub.HasAvailableSubCommands() {
				walk(sub)
				continue
			}
			if !documented[sub] {
				t.Errorf("README CLI table: no row shows `%s`", sub.CommandPath())
			}
		}
	}
	walk(root)
}

// readmeCLIRows returns the first cells of the table under "## CLI".
func readmeCLIRows(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## CLI\n")
	if !ok {
		t.Fatal("README has no ## CLI section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `tasker ") {
			continue
		}
		// The first cell ends at the first " | " not inside backticks; a
		// `\|` inside them is an escaped bar.
		cell, inCode := "", false
		for i := 1; i < len(line); i++ {
			if line[i] == '`' {
				inCode = !inCode
			}
			if line[i] == '|' && !inCode && line[i-1] != '\\' {
				cell = line[1:i]
				break
			}
		}
		rows = append(rows, cell)
	}
	if len(rows) < 15 {
		t.Fatalf("found %d rows in the README's CLI table, want the whole table", len(rows))
	}
	return rows
}

// splitUsage splits `tasks ls [--state S] ID` into the command's words
// (those before the first argument or flag) and the flags it names.
func splitUsage(usage string) (words, flags []string) {
	for _, m := range regexp.MustCompile(`--([a-z][a-z-]*)`).FindAllStringSubmatch(usage, -1) {
		flags = append(flags, m[1])
	}
	for _, w := range strings.Fields(usage) {
		if !regexp.MustCompile(`^[a-z][a-z\\|-]*$`).MatchString(w) {
			break
		}
		words = append(words, w)
	}
	return words, flags
}

// expandAlternatives turns [schedules pause\|resume] into the paths
// [schedules pause] and [schedules resume].
func expandAlternatives(words []string) [][]string {
	paths := [][]string{nil}
	for _, w := range words {
		var next [][]string
		for _, alt := range strings.Split(strings.ReplaceAll(w, `\|`, "|"), "|") {
			for _, p := range paths {
				next = append(next, append(append([]string(nil), p...), alt))
			}
		}
		paths = next
	}
	return paths
}
