package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// A task or token id with a leading zero ("01") is refused naming it, as
// a signed one is: ParseInt read it as 1, so `tasker tokens revoke 01`
// revoked token 1. The task and the token stay as they were.
func TestLeadingZeroIDsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "d.db")
	mustExecute(t, "demo", "--orders", "1", "--db", db)
	mustExecute(t, "tokens", "create", "--db", db, "--name", "ci", "--role", "viewer")
	for _, args := range [][]string{
		{"tasks", "show", "01"},
		{"tasks", "cancel", "01"},
		{"tasks", "retry", "01"},
		{"tasks", "resolve", "01", "a"},
		{"explain", "01"},
		{"events", "send", "01", "approval"},
	} {
		mustFail(t, `task id must be a positive integer, got "01"`, append(args, "--db", db)...)
	}
	mustFail(t, `token id "01": want a positive number`, "tokens", "revoke", "--db", db, "01")
	if out := mustExecute(t, "tokens", "ls", "--db", db); strings.Contains(out, "revoked") || !strings.Contains(out, "ci") {
		t.Fatalf("a refused revoke touched the token:\n%s", out)
	}
	if out := mustExecute(t, "tasks", "show", "1", "--db", db); strings.Contains(out, "cancelled") {
		t.Fatalf("a refused cancel touched task 1:\n%s", out)
	}
}

// --handlers given empty, or listing no name (--handlers "$HANDLERS" with
// HANDLERS unset, or ","), is refused naming the flag: it was taken as
// a list of none, and every handler of every file was reported unknown.
// A --handlers-file that names no handler is refused likewise.
func TestLintRefusesAnEmptyHandlerList(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "t.yaml", "namespace: shop\nname: one\nversion: \"1\"\nsteps:\n  - name: a\n    handler: shop.a\n")
	mustFail(t, `--handlers names no handler (got ""): give the handler names the binary registers, comma-separated, or leave --handlers out`, "lint", "--handlers", "", f)
	mustFail(t, `--handlers names no handler (got " , ")`, "lint", "--handlers", " , ", f)
	empty := writeFile(t, dir, "handlers.txt", "# none yet\n\n")
	mustFail(t, "--handlers-file "+empty+" names no handler", "lint", "--handlers-file", empty, f)
	// A list with a name still checks the files against it.
	if out, failed := lint(t, "--handlers", "shop.a", f); failed {
		t.Fatalf("lint --handlers shop.a failed:\n%s", out)
	}
}

// A ?schema= of --db (or TASKER_DB) that the store refuses is refused
// naming where it was given: the store's words named Options.Schema, which
// a CLI user never set ("postgres options: schema \" a\" has spaces
// around it", "search_path=x beside Options.Schema").
func TestDBSchemaParamRefusalsNameTheFlag(t *testing.T) {
	const url = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1&"
	mustFail(t, `--db: ?schema=" a" has spaces around it: write ?schema=a`, "migrate", "--db", url+"schema=%20a")
	mustFail(t, `--db: ?schema=y beside ?search_path=x, which it replaces (every connection's search_path is the schema): give one`, "migrate", "--db", url+"search_path=x&schema=y")
	mustFail(t, `--db: ?schema=y beside ?options setting search_path=x, which it replaces (every connection's search_path is the schema): give one`, "migrate", "--db", url+"options=-c%20search_path%3Dx&schema=y")
	t.Setenv("TASKER_DB", url+"schema=a%00b")
	mustFail(t, `TASKER_DB: ?schema="a\x00b" is not a schema name (at most 63 bytes, no NUL)`, "tasks", "ls")
}

// A --db whose default_transaction_read_only makes every transaction
// read-only is refused by the commands that write, before anything is
// opened, saying so: the store's error told a CLI user to set
// Options.ReadOnly (and the server's before it named a table it could not
// create).
func TestDBReadOnlyTransactionsRefusedByWriters(t *testing.T) {
	const url = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1&"
	const want = "--db: default_transaction_read_only=on makes every transaction read-only, and this command writes: leave it out"
	mustFail(t, want, "migrate", "--db", url+"default_transaction_read_only=on")
	mustFail(t, "--db: default_transaction_read_only=yes (in options) makes every transaction read-only, and this command writes: leave it out",
		"tasks", "cancel", "1", "--db", url+"options=-c%20default_transaction_read_only%3Dyes")
}

// A postgres --db whose parameters pgx or the store refuses is refused
// naming where it was given (--db, TASKER_DB or the configuration's line),
// before anything is opened: the error was the store's "opening postgres:
// parsing postgres dsn: …", naming neither the variable nor the file.
func TestDBParamRefusalsNameTheirSource(t *testing.T) {
	const url = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1&"
	mustFail(t, "--db: postgres URL: cannot parse", "migrate", "--db", url+"sslmode=bogus")
	t.Setenv("TASKER_DB", url+"pool_max_conns=0")
	mustFail(t, "TASKER_DB: postgres URL: pool_max_conns=0 is not a pool size", "tasks", "ls")
	mustFail(t, "TASKER_DB: postgres URL: pool_max_conns=0 is not a pool size", "worker")
	t.Setenv("TASKER_DB", url+"connect_timeout=abc")
	mustFail(t, "TASKER_DB: postgres URL: cannot parse", "serve")
	os.Unsetenv("TASKER_DB")
	conf := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(conf, []byte("db: "+url+"pool_health_check_period=0s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustFail(t, conf+":1: db: postgres URL: pool_health_check_period=0s is not a duration above 0", "worker", "--config", conf)
	// A URL that does not parse was quoted whole, password and all
	// (pgx's own errors write xxxxx for it).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := execute(t, ctx, "tasks", "ls", "--db", "postgres://u:s3cret@127.0.0.1:abc/db")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), `--db: postgres URL: invalid port ":abc" after host`) {
		t.Fatalf("tasks ls with a URL that does not parse: %v; want the parse error without the password", err)
	}
	// So was one missing part of its "://".
	_, err = execute(t, ctx, "tasks", "ls", "--db", "postgres//u:s3cret@127.0.0.1/db")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), `--db postgres//u:xxxxx@127.0.0.1/db looks like a URL without "://"`) {
		t.Fatalf("tasks ls with a URL missing its \"://\": %v; want the refusal without the password", err)
	}
}

// A --db (or TASKER_DB) with spaces around it is refused, saying so: a
// padded variable ("x.db ") created and migrated a file of that name, a
// database beside the one meant, which every later command without the
// space then did not find.
func TestDBWithSpacesAroundRefused(t *testing.T) {
	dir := t.TempDir()
	padded := filepath.Join(dir, "x.db") + " "
	mustFail(t, fmt.Sprintf("--db %q has spaces around it: write %q", padded, strings.TrimSpace(padded)), "migrate", "--db", padded)
	t.Setenv("TASKER_DB", " "+filepath.Join(dir, "y.db"))
	mustFail(t, fmt.Sprintf("TASKER_DB %q has spaces around it", " "+filepath.Join(dir, "y.db")), "migrate")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused command created %v", entries)
	}
}

// An event NAME, --key, or approval start's --id or --employee with spaces
// around it is refused, saying so, before anything is opened: " approval"
// was sent as an event no WaitEvent("approval") reads, " k" as a key whose
// repeat without the space was another event, " exp-1" started a second
// expense beside exp-1's.
func TestPaddedNamesRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	mustFail(t, `the event NAME " approval" has spaces around it: write "approval"`, "events", "send", "1", " approval", "--db", db)
	mustFail(t, `--key "k " has spaces around it: write "k"`, "events", "send", "1", "approval", "--key", "k ", "--db", db)
	mustFail(t, `--id " exp-1" has spaces around it: write "exp-1"`, "approval", "start", "--amount", "5", "--id", " exp-1", "--db", db)
	mustFail(t, `--employee "bob\n" has spaces around it: write "bob"`, "approval", "start", "--amount", "5", "--employee", "bob\n", "--db", db)
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused command touched the database: %v", err)
	}
}

// Whole-number flags are read in decimal, as the CLI prints ids and
// counts: pflag reads them with base 0, so --before 010 listed from task 7
// (octal 8), and --limit 0x2, --orders 1_0 or --before +9 were taken.
// (010 itself is refused now: TestNonCanonicalNumberFlagsRefused.)
func TestIntFlagsReadInDecimal(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "d.db")
	mustExecute(t, "demo", "--orders", "12", "--db", db)
	r := rows(mustExecute(t, "tasks", "ls", "--before", "10", "--db", db))
	if len(r) != 9 || !strings.HasPrefix(r[0], "9 ") {
		t.Fatalf("tasks ls --before 10 listed %d tasks from %q, want 9 from task 9", len(r), r[0])
	}
	mustFail(t, `invalid argument "0x2" for "--limit" flag: want a whole number in decimal digits`, "tasks", "ls", "--limit", "0x2", "--db", db)
	mustFail(t, `invalid argument "+9" for "--before" flag: must be a task id`, "tasks", "ls", "--before", "+9", "--db", db)
	other := filepath.Join(dir, "other.db")
	mustFail(t, `invalid argument "1_0" for "--orders" flag`, "demo", "--orders", "1_0", "--db", other)
	mustFail(t, `invalid argument "0b1" for "--concurrency" flag`, "worker", "--concurrency", "0b1", "--db", other)
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatalf("a refused command created %s (%v)", other, err)
	}
}

// A task id flag (--before) is read as the admin API reads ?cursor=
// (ids.Parse): --before 010 was task 10 where ?cursor=010 is refused, and
// --before -0 the first page. 0 stays the first page, as documented. The
// other whole-number flags (--limit, --orders, --concurrency) are refused
// with a sign or a leading zero, as the configuration's numbers are: 010
// was 10, -0 was 0. A negative count keeps its command's error.
func TestNonCanonicalNumberFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "d.db")
	mustExecute(t, "demo", "--orders", "3", "--db", db)
	for _, c := range []struct{ v, want string }{
		{"010", `invalid argument "010" for "--before" flag: must be a task id: a positive whole number in decimal digits, without sign or leading zero (or 0 for the first page); write 10`},
		{"00", `invalid argument "00" for "--before" flag: must be a task id`},
		{"-0", `invalid argument "-0" for "--before" flag: must be a task id`},
		{"-5", `invalid argument "-5" for "--before" flag: must be a task id`},
		{"+2", `invalid argument "+2" for "--before" flag: must be a task id`},
	} {
		mustFail(t, c.want, "tasks", "ls", "--before", c.v, "--db", db)
	}
	if r := rows(mustExecute(t, "tasks", "ls", "--before", "0", "--db", db)); len(r) != 3 {
		t.Fatalf("tasks ls --before 0 listed %d tasks, want the first page's 3", len(r))
	}
	mustFail(t, `invalid argument "05" for "--limit" flag: want a whole number in decimal digits, without sign or leading zero: write 5`, "tasks", "ls", "--limit", "05", "--db", db)
	mustFail(t, `invalid argument "-0" for "--limit" flag: want a whole number in decimal digits, without sign or leading zero: write 0`, "tasks", "ls", "--limit", "-0", "--db", db)
	mustFail(t, `--limit must be from 1 to 1000, got -1`, "tasks", "ls", "--limit", "-1", "--db", db)
	other := filepath.Join(dir, "other.db")
	mustFail(t, `invalid argument "010" for "--orders" flag: want a whole number in decimal digits, without sign or leading zero: write 10`, "demo", "--orders", "010", "--db", other)
	mustFail(t, `invalid argument "+4" for "--concurrency" flag: want a whole number in decimal digits, without sign or leading zero: write 4`, "worker", "--concurrency", "+4", "--db", other)
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatalf("a refused command created %s (%v)", other, err)
	}
}

// A duration flag with a sign is refused naming the flag, as the
// configuration's durations and GET /api/report's since are: pflag read
// --since +1h as 1h and --drain -0s as 0. A negative one keeps its
// command's error.
func TestSignedDurationFlagsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	mustFail(t, `invalid argument "+1h" for "--since" flag: want a duration without a sign: write 1h`, "report", "--since", "+1h", "--db", db)
	mustFail(t, `invalid argument "+2s" for "--poll" flag: want a duration without a sign: write 2s`, "worker", "--poll", "+2s", "--db", db)
	mustFail(t, `invalid argument "-0s" for "--drain" flag: want a duration without a sign: write 0s`, "worker", "--drain", "-0s", "--db", db)
	mustFail(t, `--drain must not be negative, got -1s`, "worker", "--drain", "-1s", "--db", db)
	mustFail(t, `invalid argument "soon" for "--since" flag: time: invalid duration "soon"`, "report", "--since", "soon", "--db", db)
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused command created %s (%v)", db, err)
	}
}
