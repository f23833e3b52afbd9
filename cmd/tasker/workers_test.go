package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// workers lists the registry and explain says why a step waits, both
// read-only, as text and as JSON.
func TestWorkersAndExplain(t *testing.T) {
	db := filepath.Join(t.TempDir(), "reg.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	noop := func(sc *engine.StepContext) (any, error) { return nil, nil }
	for _, h := range []string{"ship.pack", "ship.send"} {
		if err := e.HandleFunc(h, noop); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Register(&engine.Template{Namespace: "shop", Name: "ship", Steps: []engine.StepTemplate{
		{Name: "pack", Handler: "ship.pack"}, {Name: "send", Handler: "ship.send", DependsOn: []string{"pack"}}}}); err != nil {
		t.Fatal(err)
	}
	h, err := e.Start(ctx, "shop/ship", nil)
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(h.TaskID, 10)

	if out := mustExecute(t, "workers", "--db", db); !strings.Contains(out, "no live workers") {
		t.Fatalf("an empty registry lists:\n%s", out)
	}
	// --all looked at the expired too: "no live workers" said less than
	// it had found (none of those either).
	if out := mustExecute(t, "workers", "--all", "--db", db); out != "no workers, live or expired within the last day\n" {
		t.Fatalf("an empty registry lists with --all:\n%s", out)
	}
	out := mustExecute(t, "explain", id, "--db", db)
	for _, want := range []string{"live workers: none", "pack", "there is no live worker", "send", "waiting on 1 dependency: pack (pending)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("explain does not say %q:\n%s", want, out)
		}
	}

	// Another program serves only send (an old build): pack has no one.
	if _, err := st.RegisterWorker(ctx, &store.RegisterWorkerParams{ID: "billing-42", Queues: []string{"default"}, Handlers: []string{"ship.send"},
		Version: "v1.4.0", Concurrency: 16, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, db)
	out = mustExecute(t, "workers", "--db", db)
	for _, want := range []string{"billing-42", "v1.4.0", "16", "default", "1: ship.send"} {
		if !strings.Contains(out, want) {
			t.Fatalf("workers does not show %q:\n%s", want, out)
		}
	}
	var ws workersJSON
	if err := json.Unmarshal([]byte(mustExecute(t, "workers", "--json", "--db", db)), &ws); err != nil || len(ws.Workers) != 1 || ws.Workers[0].Version != "v1.4.0" {
		t.Fatalf("workers --json: %+v (%v)", ws, err)
	}
	out = mustExecute(t, "explain", id, "--db", db)
	if !strings.Contains(out, "no live worker serves handler ship.pack (live workers: billing-42)") {
		t.Fatalf("explain with a live worker not serving pack:\n%s", out)
	}
	var x engine.Explanation
	if err := json.Unmarshal([]byte(mustExecute(t, "explain", id, "--json", "--db", db)), &x); err != nil {
		t.Fatal(err)
	}
	if x.TaskID != h.TaskID || len(x.Steps) != 2 || x.Steps[0].Kind != engine.ExplainNoLiveWorker || x.Steps[1].Kind != engine.ExplainDependencies {
		t.Fatalf("explain --json: %+v", x)
	}
	if fileSum(t, db) != before {
		t.Fatal("workers or explain changed the database")
	}
	mustFail(t, "task 999", "explain", "999", "--db", db)
}

// Every field `workers --json` names in its help is in every worker of its
// output, empty or not: a JSON consumer sees one shape. A worker whose
// engine has no Version lost its "version" key (omitempty on the store's
// tag), and one with no handlers printed "handlers": null.
func TestWorkersJSONNamesEveryField(t *testing.T) {
	db := filepath.Join(t.TempDir(), "reg.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RegisterWorker(ctx, &store.RegisterWorkerParams{ID: "bare-1", Queues: []string{"default"}, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var out struct{ Workers []map[string]any }
	if err := json.Unmarshal([]byte(mustExecute(t, "workers", "--json", "--db", db)), &out); err != nil || len(out.Workers) != 1 {
		t.Fatalf("workers --json: %+v (%v)", out, err)
	}
	w := out.Workers[0]
	for _, key := range jsonHelpKeys(t, "workers") {
		v, ok := w[key]
		if !ok {
			t.Errorf("workers --json has no %q (its help names it): %v", key, w)
		} else if v == nil {
			t.Errorf("workers --json: %q is null: %v", key, w)
		}
	}
}

// jsonHelpKeys returns the keys the --json help of a command names inside
// its list's braces ([{"id", "queues", …}]).
func jsonHelpKeys(t *testing.T, path ...string) []string {
	t.Helper()
	cmd, _, err := newRootCmd().Find(path)
	if err != nil {
		t.Fatal(err)
	}
	usage := cmd.Flags().Lookup("json").Usage
	inner := regexp.MustCompile(`\[\{(.*)\}\]`).FindStringSubmatch(usage)
	if inner == nil {
		t.Fatalf("%s --json help names no fields: %q", strings.Join(path, " "), usage)
	}
	var keys []string
	for _, m := range regexp.MustCompile(`"([a-z_]+)"`).FindAllStringSubmatch(inner[1], -1) {
		keys = append(keys, m[1])
	}
	return keys
}

// workers --all lists crashed workers beside live ones: each expired one
// says so, where it looked like a live one but for its EXPIRES time.
func TestWorkersAllMarksTheExpired(t *testing.T) {
	db := filepath.Join(t.TempDir(), "reg.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		id  string
		now time.Time
	}{{"crashed-1", time.Now().Add(-time.Hour)}, {"live-1", time.Time{}}} {
		if _, err := st.RegisterWorker(ctx, &store.RegisterWorkerParams{ID: w.id, Queues: []string{"default"}, TTL: time.Minute, Now: w.now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(mustExecute(t, "workers", "--all", "--db", db), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[1], "crashed-1") || !strings.HasPrefix(lines[2], "live-1") {
		t.Fatalf("workers --all:\n%s", strings.Join(lines, "\n"))
	}
	if !strings.Contains(lines[1], "expired") || strings.Contains(lines[2], "expired") {
		t.Fatalf("workers --all does not tell the expired worker from the live one:\n%s", strings.Join(lines, "\n"))
	}
	if out := mustExecute(t, "workers", "--db", db); strings.Contains(out, "crashed-1") || strings.Contains(out, "expired") {
		t.Fatalf("workers without --all:\n%s", out)
	}
}
