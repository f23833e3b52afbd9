package main

import (
	"context"
	"os"
	"path/filepath"
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

// Every problem of a template is one file:line:col line, in file order:
// an unknown dependency, a cycle, steps that wait for those forever, a
// duplicate name and handlers the binary does not register.
func TestLintReportsEveryProblemWithItsPlace(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "broken.yaml", brokenTemplate)
	handlers := writeFile(t, dir, "handlers.txt", "# what the binary registers\nshop.start\nshop.charge\n\nshop.noop  # the no-op\n")
	out, failed := lint(t, "--handlers-file", handlers, f)
	if !failed {
		t.Fatalf("lint passed a broken template:\n%s", out)
	}
	want := []string{
		f + `:9:17: step "charge" depends on unknown step "strat"`,
		f + `:10:11: step "ship" can never run: it waits for step "charge", which can never run`,
		f + `:11:14: step "ship": unknown handler "shop.ship"`,
		f + `:13:11: dependency cycle: `, // loop_a → loop_b → loop_a, in whatever order the check finds it
		f + `:19:11: step "after_loop" can never run: it waits for step "loop_b", which can never run`,
		f + `:22:11: step "start": duplicate step name`, // the second one
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, w := range want {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no line starting %q in:\n%s", w, out)
		}
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, f+":") {
			t.Errorf("line %q does not start with the file name", l)
		}
	}

	// Without a handler list, handlers are not checked; the rest stays.
	out, _ = lint(t, f)
	if strings.Contains(out, "unknown handler") || !strings.Contains(out, `depends on unknown step "strat"`) {
		t.Fatalf("without --handlers:\n%s", out)
	}
	// --handlers names them on the command line.
	out, _ = lint(t, "--handlers", "shop.start, shop.charge,shop.noop,shop.ship", f)
	if strings.Contains(out, "unknown handler") {
		t.Fatalf("--handlers with every handler:\n%s", out)
	}
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
