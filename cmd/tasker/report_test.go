package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The demo's five orders (one payment retried) in the report, as text
// and as JSON.
func TestReportAfterDemo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	mustExecute(t, "demo", "--orders", "5", "--db", db)
	out := mustExecute(t, "report", "--db", db)
	wantMatch(t, out, `tasks 5: 5 complete, 0 failed, 0 cancelled, 0 resolved, 0 running; completion 100\.0%, errors 0\.0%`)
	wantMatch(t, out, `(?m)^ecommerce/process_order\s+5\s+5\s+0\s`)
	wantMatch(t, out, `(?m)^ecommerce/process_order\s+charge_payment\s+5\s+20\.0%`)
	wantMatch(t, out, `BOTTLENECK`)
	// Its own pool and handlers (none running) said nothing of the workers.
	wantMatch(t, out, `(?m)^HEALTH\n0 steps ready, oldest 0s \(a worker's pool and handlers: its metrics, or Engine.Report in it\)$`)
	wantMatch(t, out, `(?m)^tasks: 0 → 5$`)

	var r struct {
		Summary struct{ Tasks, Complete int } `json:"summary"`
		Cached  bool                          `json:"cached"`
		Steps   []struct {
			Step    string `json:"step"`
			Retried int    `json:"retried"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(mustExecute(t, "report", "--json", "--workflow", "ecommerce/process_order", "--db", db)), &r); err != nil {
		t.Fatal(err)
	}
	retried := 0
	for _, s := range r.Steps {
		retried += s.Retried
	}
	if r.Summary.Tasks != 5 || r.Summary.Complete != 5 || retried != 1 {
		t.Fatalf("report --json: %+v", r)
	}
	mustFail(t, "--since 0s is not between 1m0s and 744h0m0s (say 1h, 30m or 168h)", "report", "--since", "0s", "--db", db)

	// A misspelt filter names the recent name it is a slip away from, above
	// the (empty) report; one close to nothing adds no line.
	out = mustExecute(t, "report", "--namespace", "ecommrce", "--db", db)
	if !strings.HasPrefix(out, "no tasks of namespace \"ecommrce\" in the window; did you mean \"ecommerce\"?\n\nreport ") {
		t.Fatalf("report --namespace ecommrce:\n%s", out)
	}
	wantMatch(t, mustExecute(t, "report", "--workflow", "ecommerce/proces_order", "--db", db), `^no tasks of workflow "ecommerce/proces_order" in the window; did you mean "ecommerce/process_order"\?\n`)
	if out := mustExecute(t, "report", "--namespace", "billing", "--db", db); strings.Contains(out, "did you mean") {
		t.Fatalf("report --namespace billing:\n%s", out)
	}
}

// --workflow and --namespace are checked before the database is opened,
// the error naming them: the engine refused them after opening it, naming
// neither ("report: workflow filter "nope" is not "namespace/name" (of
// namespace "" when both are set)").
func TestReportFiltersAreChecked(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	mustFail(t, `--workflow must be namespace/name, got "nope"`, "report", "--workflow", "nope", "--db", db)
	mustFail(t, `--workflow must be namespace/name, got "a/"`, "report", "--workflow", "a/", "--db", db)
	mustFail(t, `--namespace "x" and --workflow "ecommerce/process_order" disagree (its namespace is "ecommerce")`,
		"report", "--namespace", "x", "--workflow", "ecommerce/process_order", "--db", db)
}

// --since outside GET /api/report's bounds (1m to 31 days) is refused
// before the database is opened: a negative one was, but 1ms (for 1m)
// printed an empty report and 2562047h read every task twice.
func TestReportSinceBounds(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	for _, since := range []string{"-1h", "0s", "1ms", "59s", "745h", "2562047h"} {
		mustFail(t, "--since "+since, "report", "--since", since, "--db", db)
		mustFail(t, "is not between 1m0s and 744h0m0s", "report", "--since", since, "--db", db)
	}
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused command created the database (%v)", err)
	}
}

// A bad --config is refused before anything is opened, every problem
// named with its line.
func TestWorkerRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "tasker.yaml")
	db := filepath.Join(dir, "never.db")
	if err := os.WriteFile(conf, []byte("db: "+db+"\nexecution:\n  lease_ttl: soon\n  max_concurency: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustFail(t, conf+`:3: execution.lease_ttl: "soon" is not a duration`, "worker", "--config", conf)
	mustFail(t, conf+`:4: execution.max_concurency: unknown key`, "serve", "--config", conf)
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused command created the database (%v)", err)
	}
}

// --namespace with a '/' or '@' (a workflow given as namespace) is refused
// naming the flag before the database is opened; the engine refused it
// after opening it, as a "namespace filter", naming no flag.
func TestReportNamespaceFlagIsChecked(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	mustFail(t, `--namespace "ecommerce/process_order": a namespace has no '/' or '@' (for one workflow, give --workflow namespace/name)`, "report", "--namespace", "ecommerce/process_order", "--db", db)
	mustFail(t, `--namespace "ecommerce@1": a namespace has no '/' or '@'`, "report", "--namespace", "ecommerce@1", "--db", db)
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused command created the database (%v)", err)
	}
}

// report --json's health holds the database's figures only, as the text
// does: the pool, pressure and handler figures were this command's own (an
// idle pool of 4, none running, the default 32 handlers), which a consumer
// read as the service's.
func TestReportJSONHealthIsTheDatabases(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	mustExecute(t, "demo", "--orders", "2", "--db", db)
	var r struct {
		Health  map[string]any      `json:"health"`
		Summary struct{ Tasks int } `json:"summary"`
	}
	if err := json.Unmarshal([]byte(mustExecute(t, "report", "--json", "--db", db)), &r); err != nil {
		t.Fatal(err)
	}
	if r.Summary.Tasks != 2 {
		t.Fatalf("report --json summary: %+v", r.Summary)
	}
	var keys []string
	for k := range r.Health {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"oldest_ready", "ready_steps"}) {
		t.Fatalf("report --json health has %v; want only ready_steps and oldest_ready: %v", keys, r.Health)
	}
}
