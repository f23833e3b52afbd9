package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// lint runs `tasker lint args…` and returns what it printed and whether it
// failed.
func lint(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := execute(t, ctx, append([]string{"lint"}, args...)...)
	if err != nil && !strings.HasPrefix(err.Error(), "lint: ") {
		t.Fatalf("tasker lint %s: %v", strings.Join(args, " "), err)
	}
	return out, err != nil
}

func TestLintAcceptsTheExampleTemplate(t *testing.T) {
	example := filepath.Join("..", "..", "examples", "yaml", "process_order.yaml")
	handlers := "ecommerce.validate_cart,ecommerce.charge_payment,ecommerce.reserve_inventory,ecommerce.create_order,ecommerce.send_confirmation"
	for _, args := range [][]string{{example}, {"--env", "development", example}, {"--handlers", handlers, example}} {
		if out, failed := lint(t, args...); failed || out != "" {
			t.Fatalf("tasker lint %s: failed %v, printed:\n%s", strings.Join(args, " "), failed, out)
		}
	}
}

const brokenTemplate = `namespace: shop
name: broken
version: "1"
steps:
  - name: start
    handler: shop.start
  - name: charge
    handler: shop.charge
    depends_on: [strat]
  - name: ship
    handler: shop.ship
    depends_on: [charge]
  - name: loop_a
    handler: shop.noop
    depends_on: [loop_b]
  - name: loop_b
    handler: shop.noop
    depends_on: [loop_a]
  - name: after_loop
    handler: shop.noop
    depends_on: [loop_b]
  - name: start
    handler: shop.start
`

// Every problem of a template is one file:line:col line, in file order, at
// the key the loader places it on: an unknown dependency, a cycle, steps
// that wait for those forever, a duplicate name and handlers the binary
// does not register.
func TestLintReportsEveryProblemWithItsPlace(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "broken.yaml", brokenTemplate)
	handlers := writeFile(t, dir, "handlers.txt", "# what the binary registers\nshop.start\nshop.charge\n\nshop.noop  # the no-op\n")
	out, failed := lint(t, "--handlers-file", handlers, f)
	if !failed {
		t.Fatalf("lint passed a broken template:\n%s", out)
	}
	want := []string{
		f + `:9:5: steps[1].depends_on: step "charge" depends on unknown step "strat"`,
		f + `:11:5: steps[2].handler: step "ship": unknown handler "shop.ship"`,
		f + `:12:5: steps[2].depends_on: step "ship" can never run: it waits for step "charge", which can never run`,
		f + `:15:5: steps[3].depends_on: dependency cycle: `, // loop_a → loop_b → loop_a, in whatever order the check finds it
		f + `:21:5: steps[5].depends_on: step "after_loop" can never run: it waits for step "loop_b", which can never run`,
		f + `:22:5: steps[6].name: step "start": duplicate step name (also steps[0])`, // the second one
	}
	checkLines(t, out, want)

	// Without a handler list, handlers are not checked; the rest stays.
	out, _ = lint(t, f)
	checkLines(t, out, slices.Delete(slices.Clone(want), 1, 2))
	// --handlers names them on the command line.
	out, _ = lint(t, "--handlers", "shop.start, shop.charge,shop.noop,shop.ship", f)
	checkLines(t, out, slices.Delete(slices.Clone(want), 1, 2))
	out, _ = lint(t, "--handlers", "shop.start, shop.charge,shop.noop", f)
	checkLines(t, out, want)
}

// checkLines fails unless out is, line by line, lines starting with want.
func checkLines(t *testing.T, out string, want []string) {
	t.Helper()
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("line %d is\n\t%s\nwant it to start with\n\t%s", i+1, got[i], w)
		}
	}
}

// A template that does not decode is reported as the loader finds it, every
// problem at its key; with --env, a step the environment adds is checked
// (its handler, what it waits for) at its place in environments.
func TestLintStructuralProblemsAndEnvironments(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "shape.yaml", `namespace: shop
name: shape
steps:
  - name: a
    handler: shop.a
    timeout: soon
    retyr: {limit: 2}
`)
	out, failed := lint(t, f)
	if !failed {
		t.Fatalf("lint passed:\n%s", out)
	}
	checkLines(t, out, []string{
		f + `:6:5: steps[0].timeout: must be a duration such as 30s or 1m, got "soon"`,
		f + `:7:5: steps[0].retyr: unknown key "retyr" in a step (did you mean "retry"?)`,
	})

	f = writeFile(t, dir, "env.yaml", `namespace: shop
name: env
steps:
  - name: a
    handler: shop.a
  - name: b
    handler: shop.b
    depends_on: [a]
environments:
  staging:
    steps:
      - name: c
        handler: shop.c
        depends_on: [d]
      - name: e
        handler: shop.e
        depends_on: [c]
`)
	if out, failed := lint(t, "--handlers", "shop.a,shop.b", f); failed || out != "" {
		t.Fatalf("without --env: failed %v:\n%s", failed, out)
	}
	out, _ = lint(t, "--env", "staging", "--handlers", "shop.a,shop.b,shop.e", f)
	checkLines(t, out, []string{
		f + `:13:9: steps[2].handler: step "c": unknown handler "shop.c"`,
		f + `:14:9: steps[2].depends_on: step "c" depends on unknown step "d"`,
		f + `:17:9: steps[3].depends_on: step "e" can never run: it waits for step "c", which can never run`,
	})
	out, _ = lint(t, "--env", "prod", f)
	checkLines(t, out, []string{f + `:9:1: environments: environment "prod" is not in the file; it declares staging`})
}

// A YAML syntax error carries its line and column from the parser; a file
// that cannot be read is reported at 1:1; good files print nothing.
func TestLintSyntaxErrorsAndUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "namespace: a\nname: b\nsteps:\n  - name: s\n    handler: h\n")
	bad := writeFile(t, dir, "bad.yaml", "namespace: a\nname: b\nsteps:\n  - name: s\n    handler: [h\n")
	missing := filepath.Join(dir, "missing.yaml")
	out, failed := lint(t, good, bad, missing)
	if !failed {
		t.Fatalf("lint passed:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per bad file:\n%s", out)
	}
	if !strings.HasPrefix(lines[0], bad+":5:") {
		t.Errorf("syntax error line %q, want %s:5:col", lines[0], bad)
	}
	if strings.Contains(lines[0], "[5:") {
		t.Errorf("the position is repeated in the message: %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], missing+":1:1: cannot read the file: no such file or directory") {
		t.Errorf("missing file line %q", lines[1])
	}
	if out, failed := lint(t, good); failed || out != "" {
		t.Fatalf("a good file: failed %v:\n%s", failed, out)
	}
	mustFail(t, "requires at least 1 arg", "lint")
	mustFail(t, "--handlers-file: open", "lint", "--handlers-file", filepath.Join(dir, "nope.txt"), good)
}

// --env and --handlers-file given empty (a CI variable left unset) are
// refused naming the flag: they were taken as not given, and the files
// passed unchecked against the environment or the handler list.
func TestLintRefusesEmptyEnvAndHandlersFile(t *testing.T) {
	f := writeFile(t, t.TempDir(), "t.yaml", "namespace: shop\nname: one\nversion: \"1\"\nsteps:\n  - name: a\n    handler: shop.a\n")
	mustFail(t, `--env is empty (got ""): give the name of an environment the files declare (environments.NAME), or leave --env out`, "lint", "--env", "", f)
	mustFail(t, `--env is empty (got " ")`, "lint", "--env", " ", f)
	mustFail(t, `--handlers-file is empty (got ""): give a file of handler names, one per line, or leave --handlers-file out`, "lint", "--handlers-file", "", f)
}

// slowTemplate is a template whose step's retry base (10m) is over the
// default config's retry max (5m).
const slowTemplate = `namespace: shop
name: slow
steps:
  - name: charge
    handler: shop.charge
    retry: {base: 10m}
`

// A step's retry base above the engine's Config.Retry.Max (with no max of
// its own) is reported as engine.Register refuses it: every delay would
// be capped at that max. Under the default config the max is 5m; with
// --config, it is the file's retry.max. lint validated without an engine
// config and passed what Register then refused.
func TestLintWeighsRetryBaseAgainstTheEngineMax(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "slow.yaml", slowTemplate)
	out, failed := lint(t, f)
	want := f + `:6:13: steps[0].retry.base: step "charge": retry base 10m0s is above the engine's retry max 5m0s (Config.Retry.Max), which would cap every delay: set max too`
	if !failed || !strings.Contains(out, want) {
		t.Fatalf("tasker lint %s (default config): failed %v, printed:\n%s\nwant %q", f, failed, out, want)
	}
	hour := writeFile(t, dir, "hour.yaml", "retry: {max: 1h}\n")
	if out, failed := lint(t, "--config", hour, f); failed || out != "" {
		t.Fatalf("tasker lint --config (retry.max 1h): failed %v, printed:\n%s", failed, out)
	}
	minute := writeFile(t, dir, "minute.yaml", "retry: {max: 1m}\n")
	out, failed = lint(t, "--config", minute, f)
	if want := "retry base 10m0s is above the engine's retry max 1m0s"; !failed || !strings.Contains(out, want) {
		t.Fatalf("tasker lint --config (retry.max 1m): failed %v, printed:\n%s\nwant %q", failed, out, want)
	}
}

// lint opens no database, so TASKER_DB, --db's default, is none of its
// business: set empty ("TASKER_DB: ${{ secrets.DB }}" with the secret
// unset) or malformed in a CI job, it failed lint with a database error,
// every template good. The other TASKER_* variables still set the
// configuration lint weighs the templates against.
func TestLintReadsNoDatabase(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "slow.yaml", slowTemplate)
	t.Setenv("TASKER_RETRY_MAX", "1h")
	for _, db := range []string{"", "x.db ", "mysql://x", "host=db dbname=x"} {
		t.Setenv("TASKER_DB", db)
		if out, failed := lint(t, f); failed || out != "" {
			t.Fatalf("TASKER_DB=%q tasker lint: failed %v, printed:\n%s\nwant it passed (retry max 1h, of TASKER_RETRY_MAX)", db, failed, out)
		}
	}
	t.Setenv("TASKER_RETRY_MAX", "1m")
	if out, failed := lint(t, f); !failed || !strings.Contains(out, "retry base 10m0s is above the engine's retry max 1m0s") {
		t.Fatalf("TASKER_RETRY_MAX=1m tasker lint: failed %v, printed:\n%s\nwant the retry base reported against 1m", failed, out)
	}
}

// The configuration file lint is given is the worker's, whose db names
// the worker's database: lint opens none, so the key is not read,
// whatever its value. db: "" (db: $DB with DB unset in CI), db: with no
// value and db: [a] failed lint with a database error, every template
// good; the rest of the file still sets what lint weighs the templates
// against, and an unknown key is still refused.
func TestLintIgnoresTheConfigDB(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "slow.yaml", slowTemplate)
	for _, db := range []string{`db: ""`, `db:`, `db: [a]`, `db: {x: 1}`, `db: mysql://x`, `db: "x.db "`} {
		c := writeFile(t, dir, "c.yaml", db+"\nretry: {max: 1h}\n")
		if out, failed := lint(t, "--config", c, f); failed || out != "" {
			t.Fatalf("tasker lint --config (%s, retry.max 1h): failed %v, printed:\n%s\nwant it passed", db, failed, out)
		}
		c = writeFile(t, dir, "c.yaml", db+"\nretry: {max: 1m}\n")
		if out, failed := lint(t, "--config", c, f); !failed || !strings.Contains(out, "retry base 10m0s is above the engine's retry max 1m0s") {
			t.Fatalf("tasker lint --config (%s, retry.max 1m): failed %v, printed:\n%s\nwant the retry base reported against 1m", db, failed, out)
		}
	}
	c := writeFile(t, dir, "c.yaml", "db: x.db\ndbb: y\n")
	mustFail(t, "dbb: unknown key", "lint", "--config", c, f)
	if out := mustExecute(t, "lint", "--help"); !strings.Contains(out, "the file's db and TASKER_DB are not read") || !strings.Contains(out, "its db, and TASKER_DB, are not read") {
		t.Fatalf("tasker lint --help does not say the file's db is not read:\n%s", out)
	}
}

// An empty FILE argument (lint "$TEMPLATE" with the variable unset) was
// reported as the problem ":1:1: cannot read the file", naming no file: it
// is refused naming the argument. A name with spaces around it that does
// not exist, where the name without them does, says so.
func TestLintNamesEmptyAndPaddedFileArguments(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "t.yaml", "namespace: shop\nname: one\nsteps:\n  - name: a\n    handler: shop.a\n")
	mustFail(t, `FILE argument 2 is empty (got ""): give a template file's path`, "lint", f, "")
	mustFail(t, `FILE argument 1 is empty (got " ")`, "lint", " ", f)
	out, failed := lint(t, f+" ")
	if want := fmt.Sprintf("%s :1:1: cannot read the file: no such file or directory (the name has spaces around it: %q exists)", f, f); !failed || !strings.Contains(out, want) {
		t.Fatalf("tasker lint %q: failed %v, printed:\n%s\nwant %q", f+" ", failed, out, want)
	}
}
