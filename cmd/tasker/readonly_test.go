package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/store/sqlite"
)

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// Every command that reads or operates on tasks, pointed at someone else's
// SQLite file, refuses it with the command that would make it a Tasker
// database, and leaves it byte for byte as it was, with no -wal, -shm or
// -journal file beside it.
func TestCommandsLeaveAForeignSQLiteFileAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inventory.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE parts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO parts (name) VALUES ('bolt'), ('nut')"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, path)
	hint := path + " is not a Tasker database (no Tasker schema): run `tasker migrate --db " + path + "`"
	for _, args := range [][]string{
		{"tasks", "ls"}, {"tasks", "ls", "--json"}, {"tasks", "show", "1"}, {"tasks", "show", "1", "--json"},
		{"tasks", "cancel", "1"}, {"tasks", "retry", "1"}, {"tasks", "resolve", "1", "a"},
		{"events", "send", "1", "approval"}, {"workers"}, {"workers", "--json"}, {"explain", "1"}, {"report"},
		{"schedules", "list"}, {"schedules", "pause", "x"}, {"tokens", "ls"}, {"tokens", "create", "--name", "a", "--role", "viewer"}, {"tokens", "revoke", "1"},
	} {
		mustFail(t, hint, append(args, "--db", path)...)
	}
	if fileSum(t, path) != before {
		t.Fatal("a command changed the foreign database")
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s%s exists (%v)", path, suffix, err)
		}
	}
}

// A path where nothing is, in a directory that exists or not: commands
// that do not create databases create nothing.
func TestCommandsCreateNothingAtAMissingPath(t *testing.T) {
	dir := t.TempDir()
	for _, db := range []string{filepath.Join(dir, "typo.db"), filepath.Join(dir, "nodir", "typo.db")} {
		for _, args := range [][]string{{"tasks", "ls"}, {"tasks", "show", "1"}, {"tasks", "cancel", "1"}, {"events", "send", "1", "x"}} {
			mustFail(t, "no database at "+db+" (run `tasker migrate --db "+db+"`", append(args, "--db", db)...)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("commands left %d entries in %s", len(entries), dir)
	}
}

// A Tasker database one migration behind (as its version table says) is
// refused, not upgraded, by the commands that do not migrate.
func TestReadCommandsRefuseAnOlderSchema(t *testing.T) {
	db := filepath.Join(t.TempDir(), "old.db")
	mustExecute(t, "migrate", "--db", db)
	st, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.SchemaVersion(context.Background())
	if err == nil {
		_, err = st.DB().Exec("DELETE FROM tasker_schema_migrations WHERE version = ?", v)
	}
	older := 0 // versions need not be contiguous
	if err == nil {
		older, err = st.SchemaVersion(context.Background())
	}
	if err := errors.Join(err, st.Close()); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, db)
	mustFail(t, db+" has schema version "+strconv.Itoa(older)+", this program needs "+strconv.Itoa(v)+": run `tasker migrate --db "+db+"`", "tasks", "ls", "--db", db)
	mustFail(t, "this program needs", "tasks", "cancel", "1", "--db", db)
	if fileSum(t, db) != before {
		t.Fatal("a refused command changed the database")
	}
}

func TestDBFlagMistakes(t *testing.T) {
	mustFail(t, "--db is empty: give an SQLite file path or a postgres:// URL", "tasks", "ls", "--db", "")
	mustFail(t, "--db is empty", "migrate", "--db", " ")
	mustFail(t, "--db is empty", "tasks", "cancel", "1", "--db", "")
	mustFail(t, `--db: unsupported URL scheme "mysql"`, "tasks", "ls", "--db", "mysql://root@localhost/tasker")
	mustFail(t, `--db: unsupported URL scheme "http"`, "migrate", "--db", "http://example.com/db")
	mustFail(t, "--db sqlite:// names no file", "tasks", "ls", "--db", "sqlite://")
	// A URL missing part of its "://" was a file of that odd name, created
	// by migrate (and suggested to it by every other command).
	mustFail(t, `--db sqlite:x.db looks like a URL without "://": write sqlite://…, or ./sqlite:x.db for a file of that name`, "migrate", "--db", "sqlite:x.db")
	mustFail(t, `--db postgres//127.0.0.1/x looks like a URL without "://"`, "tasks", "ls", "--db", "postgres//127.0.0.1/x")
	mustFail(t, `--db PostgreSQL:/127.0.0.1/x looks like a URL without "://": write postgresql://…`, "migrate", "--db", "PostgreSQL:/127.0.0.1/x")
	// A ?query on an SQLite path was dropped (x.db?mode=ro opened x.db
	// read-write) or created the file and then failed; an empty or repeated
	// ?schema= used the connection's current schema.
	dir := t.TempDir()
	mustFail(t, "an SQLite path takes no ?parameters", "migrate", "--db", filepath.Join(dir, "a.db")+"?foo=bar")
	mustFail(t, "an SQLite path takes no ?parameters", "migrate", "--db", "sqlite://"+filepath.Join(dir, "b.db")+"?_pragma=journal_mode(delete)")
	// An SQLite URI or a #fragment was refused in the store's words, which
	// told the user to set sqlite.Options, out of a CLI user's reach.
	mustFail(t, "--db "+filepath.Join(dir, "c.db")+"#x: an SQLite path takes no ?parameters or #fragment", "migrate", "--db", filepath.Join(dir, "c.db")+"#x")
	mustFail(t, `--db file:d.db is an SQLite URI: give the file's path alone (d.db), or sqlite://d.db`, "migrate", "--db", "file:d.db")
	mustFail(t, `--db sqlite://file:d.db is an SQLite URI: give the file's path alone (d.db)`, "tasks", "ls", "--db", "sqlite://file:d.db")
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Errorf("refused --db values created %v", files)
	}
	mustFail(t, `--db: ?schema= needs one schema name (got [""])`, "migrate", "--db", "postgres://127.0.0.1:1/x?schema=")
	mustFail(t, `--db: ?schema= needs one schema name (got ["a" "b"])`, "migrate", "--db", "postgres://127.0.0.1:1/x?schema=a&schema=b")
	// Nothing was created where the test runs (the package directory).
	for _, name := range []string{"mysql:", "http:", "sqlite:", "sqlite:x.db", "postgres", "PostgreSQL:"} {
		if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists in the working directory (%v)", name, err)
		}
	}
}

func TestUnknownSubcommandFails(t *testing.T) {
	mustFail(t, `unknown command "cancle" for "tasker tasks" (one of: cancel, ls, resolve, retry, show); did you mean cancel?`, "tasks", "cancle", "1")
	mustFail(t, `unknown command "recieve" for "tasker events"`, "events", "recieve")
	mustFail(t, `unknown command "nope" for "tasker"`, "nope")
	// A group alone prints its help and succeeds.
	if out := mustExecute(t, "tasks"); !strings.Contains(out, "Available Commands:") {
		t.Fatalf("tasker tasks:\n%s", out)
	}
	// Through run(), as a shell sees it: status 1.
	if code := run([]string{"tasks", "cancle", "1"}); code != 1 {
		t.Fatalf("tasker tasks cancle 1 exited %d, want 1", code)
	}
}

// tasker help of a topic that is no command printed "Unknown help topic"
// and the usage, and exited 0; it fails as the command itself would, and
// help of a command still prints its help.
func TestHelpOfAnUnknownTopicFails(t *testing.T) {
	mustFail(t, `unknown help topic "nope" (tasker help lists the commands)`, "help", "nope")
	mustFail(t, `unknown help topic "demi" (tasker help lists the commands); did you mean demo?`, "help", "demi")
	mustFail(t, `unknown help topic "tasks cancle"`, "help", "tasks", "cancle")
	if out := mustExecute(t, "help", "tasks", "cancel"); !strings.Contains(out, "tasker tasks cancel ID [flags]") {
		t.Fatalf("tasker help tasks cancel:\n%s", out)
	}
	if out := mustExecute(t, "help"); !strings.Contains(out, "Available Commands:") {
		t.Fatalf("tasker help:\n%s", out)
	}
}

// --limit and --before are checked before the database is opened.
func TestListFlagsAreChecked(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	for _, bad := range []string{"0", "-1", "1001"} {
		mustFail(t, "--limit must be from 1 to 1000, got "+bad, "tasks", "ls", "--db", db, "--limit", bad)
	}
	mustFail(t, `for "--before" flag: must be a task id`, "tasks", "ls", "--db", db, "--before", "-5")
	mustFail(t, `invalid argument "ten" for "--limit"`, "tasks", "ls", "--db", db, "--limit", "ten")
	mustFail(t, `--workflow must be namespace/name, got "/x"`, "tasks", "ls", "--db", db, "--workflow", "/x")
	// A blank item among states (a state left out of the list) was
	// dropped without a word.
	mustFail(t, `--state: item 2 of "error," is blank: give a state there, or drop the comma`, "tasks", "ls", "--db", db, "--state", "error,")
	mustFail(t, `--state: item 2 of "error, ,pending" is blank`, "tasks", "ls", "--db", db, "--state", "error, ,pending")
}

func TestReadCommandsJSON(t *testing.T) {
	db := filepath.Join(t.TempDir(), "json.db")
	mustExecute(t, "demo", "--orders", "3", "--db", db)

	var page struct {
		Tasks []struct {
			ID    int64  `json:"id"`
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"tasks"`
		NextBefore int64 `json:"next_before"`
	}
	out := mustExecute(t, "tasks", "ls", "--json", "--limit", "2", "--db", db)
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("tasks ls --json: %v\n%s", err, out)
	}
	if len(page.Tasks) != 2 || page.Tasks[0].ID != 3 || page.Tasks[1].ID != 2 || page.NextBefore != 2 ||
		page.Tasks[0].Name != "process_order" || page.Tasks[0].State != "complete" {
		t.Fatalf("tasks ls --json --limit 2: %+v", page)
	}
	out = mustExecute(t, "tasks", "ls", "--json", "--before", "2", "--db", db)
	page.NextBefore = -1
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Tasks) != 1 || page.Tasks[0].ID != 1 || page.NextBefore != -1 {
		t.Fatalf("last page: %+v (%v)\n%s", page, err, out)
	}
	if strings.Contains(out, `"next_before"`) {
		t.Fatalf("the last page has a next_before:\n%s", out)
	}
	out = mustExecute(t, "tasks", "ls", "--json", "--state", "error", "--db", db)
	if strings.TrimSpace(out) != "{\n  \"tasks\": []\n}" {
		t.Fatalf("an empty page is not {\"tasks\": []}:\n%s", out)
	}

	var show struct {
		Task struct {
			ID    int64  `json:"id"`
			State string `json:"state"`
		} `json:"task"`
		Steps []struct {
			Name    string          `json:"name"`
			State   string          `json:"state"`
			Results json.RawMessage `json:"results"`
		} `json:"steps"`
		Edges   []json.RawMessage `json:"edges"`
		History struct {
			Task []struct {
				ToState string `json:"to_state"`
			} `json:"task"`
			Steps []json.RawMessage `json:"steps"`
		} `json:"history"`
	}
	out = mustExecute(t, "tasks", "show", "1", "--json", "--db", db)
	if err := json.Unmarshal([]byte(out), &show); err != nil {
		t.Fatalf("tasks show --json: %v\n%s", err, out)
	}
	if show.Task.ID != 1 || show.Task.State != "complete" || len(show.Steps) != 5 || len(show.Edges) != 5 ||
		len(show.History.Task) != 3 || show.History.Task[2].ToState != "complete" || len(show.History.Steps) != 10 {
		t.Fatalf("tasks show 1 --json: %+v", show)
	}
	for _, s := range show.Steps {
		if s.State != "complete" || len(s.Results) == 0 || s.Results[0] != '{' {
			t.Errorf("step %s: state %s, results %s", s.Name, s.State, s.Results)
		}
	}
	mustFail(t, "task 9 not found", "tasks", "show", "9", "--json", "--db", db)
}

func TestVersion(t *testing.T) {
	out := mustExecute(t, "version")
	wantMatch(t, out, `^tasker \S+ \(github\.com/tasker-go/tasker\).*\nbuilt with `+regexpQuote(runtime.Version())+` for `+runtime.GOOS+`/`+runtime.GOARCH+`\n$`)
	var v versionInfo
	if err := json.Unmarshal([]byte(mustExecute(t, "version", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Go != runtime.Version() || v.Module != "github.com/tasker-go/tasker" || v.Version == "" {
		t.Fatalf("version --json: %+v", v)
	}
	mustFail(t, `unknown command "x" for "tasker version"`, "version", "x")
}

// version --json has every key whatever the build: a test binary has no
// VCS information, and omitempty dropped revision, time and modified (false
// too), so a consumer saw another shape than from a release build.
func TestVersionJSONHasEveryKey(t *testing.T) {
	var v map[string]any
	if err := json.Unmarshal([]byte(mustExecute(t, "version", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"module", "version", "revision", "time", "modified", "go", "platform"} {
		if _, ok := v[key]; !ok {
			t.Errorf("version --json has no %q: %v", key, v)
		}
	}
}

func regexpQuote(s string) string { return strings.ReplaceAll(s, ".", `\.`) }

// A --workflow no workflow can have is refused before anything is opened:
// a name with a version ("ecommerce/process_order@1.0.0") or a second '/'
// listed and reported nothing ("no tasks", an empty report), as if the
// workflow had never run.
func TestWorkflowFilterRefusesWhatNoWorkflowIs(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	for _, cmd := range [][]string{{"tasks", "ls"}, {"report"}} {
		mustFail(t, `--workflow "ecommerce/process_order@1.0.0": a workflow's name has no '@'`, append(cmd, "--db", db, "--workflow", "ecommerce/process_order@1.0.0")...)
		mustFail(t, `--workflow "a/b/c": a workflow's name has no '/'`, append(cmd, "--db", db, "--workflow", "a/b/c")...)
		mustFail(t, `--workflow "a@1/b": a namespace has no '@'`, append(cmd, "--db", db, "--workflow", "a@1/b")...)
	}
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused command created the database (%v)", err)
	}
}

// A filter flag given empty (--workflow "$WF" of an unset variable) or
// naming no state (--state ,) is refused before anything is opened: it
// listed, or reported, every task, as if it had not been given.
func TestBlankFiltersRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	mustFail(t, `--state "" names no state: give one or more of pending,`, "tasks", "ls", "--db", db, "--state", "")
	mustFail(t, `--state " , " names no state`, "tasks", "ls", "--db", db, "--state", " , ")
	mustFail(t, `--workflow is empty (got ""): give namespace/name, or leave --workflow out for every workflow`, "tasks", "ls", "--db", db, "--workflow", "")
	mustFail(t, `--workflow is empty (got " ")`, "report", "--db", db, "--workflow", " ")
	mustFail(t, `--namespace is empty (got ""): give a namespace, or leave --namespace out for every namespace`, "report", "--db", db, "--namespace", "")
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused command created the database (%v)", err)
	}
}

// A --workflow or --namespace filter with spaces around it is refused
// before anything is opened, as GET /api/tasks?workflow= and GET
// /api/report?namespace= refuse it: a filter matches exactly, so " shop/x"
// listed and reported nothing, as if the workflow had never run.
func TestPaddedFiltersRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	for _, cmd := range [][]string{{"tasks", "ls"}, {"report"}} {
		mustFail(t, `--workflow " shop/x" has spaces around it: write "shop/x"`, append(cmd, "--db", db, "--workflow", " shop/x")...)
		mustFail(t, `--workflow "shop/x\t" has spaces around it: write "shop/x"`, append(cmd, "--db", db, "--workflow", "shop/x\t")...)
	}
	mustFail(t, `--namespace "shop " has spaces around it: write "shop"`, "report", "--db", db, "--namespace", "shop ")
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused command created the database (%v)", err)
	}
}

// --db's postgres URL reaches the driver as written, less its ?schema=:
// the query was re-encoded, a space (%20) becoming a '+', which pgx does
// not read as a space, so application_name=my%20app named the connections
// "my+app" and options=-c%20statement_timeout%3D5s failed to connect
// ("unrecognized configuration parameter").
func TestDBURLKeepsItsParametersAsWritten(t *testing.T) {
	for _, c := range []struct{ db, url, schema string }{
		{"postgres://u@h/db?application_name=my%20app&options=-c%20statement_timeout%3D5s&schema=s",
			"postgres://u@h/db?application_name=my%20app&options=-c%20statement_timeout%3D5s", "s"},
		{"postgres://u@h/db?schema=s&sslmode=disable&application_name=a%20b", "postgres://u@h/db?sslmode=disable&application_name=a%20b", "s"},
		{"postgres://u@h/db?application_name=a%20b", "postgres://u@h/db?application_name=a%20b", ""},
		{"postgresql://u@h/db?schema=s", "postgresql://u@h/db", "s"},
	} {
		got, err := parseDB(c.db)
		if err != nil || got.pgURL != c.url || got.schema != c.schema {
			t.Errorf("parseDB(%s): %+v, %v; want URL %s, schema %q", c.db, got, err, c.url, c.schema)
		}
	}
}

// A Tasker database a newer tasker migrated is refused by every command,
// migrate and the others that create (demo, worker) included, saying to
// upgrade the program, and left as it was: migrate printed the newer
// version as if it were its own, and a worker ran on it.
func TestCommandsRefuseANewerSchema(t *testing.T) {
	db := filepath.Join(t.TempDir(), "new.db")
	mustExecute(t, "migrate", "--db", db)
	st, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.SchemaVersion(context.Background())
	if err == nil {
		_, err = st.DB().Exec("INSERT INTO tasker_schema_migrations (version, name, applied_at) VALUES (?, 'future', '2030-01-01')", v+1)
	}
	if err := errors.Join(err, st.Close()); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, db)
	want := db + " has schema version " + strconv.Itoa(v+1) + ", newer than this program's " + strconv.Itoa(v) + " (upgrade the program)"
	for _, args := range [][]string{{"migrate"}, {"demo", "--orders", "1"}, {"tasks", "ls"}, {"tasks", "cancel", "1"}} {
		mustFail(t, want, append(args, "--db", db)...)
	}
	if fileSum(t, db) != before {
		t.Fatal("a refused command changed the database")
	}
}
