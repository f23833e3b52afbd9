package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/approval"
	"github.com/tasker-go/tasker/store/sqlite"
)

// An expense started from the CLI: our engine runs it until it waits for
// the decision (RunOnce, no worker), the decision is sent twice with one
// key, and `tasker worker` (in-process) settles it.
func TestApprovalStartEventsSendWorker(t *testing.T) {
	db := filepath.Join(t.TempDir(), "approval.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	mustFail(t, "--amount must be a positive amount", "approval", "start", "--amount", "4.321", "--db", db)
	out := mustExecute(t, "approval", "start", "--amount", "42.50", "--id", "exp-7", "--db", db)
	id := wantMatch(t, out, `^started task (\d+): expenses/approval for expense exp-7, 42\.50 by ann\n`)[1]
	wantMatch(t, out, `approve: tasker events send `+id+` approval --key decision --payload '\{"approved":true,"by":"you"\}' --db `)
	out = mustExecute(t, "approval", "start", "--amount", "42.50", "--id", "exp-7", "--db", db)
	wantMatch(t, out, `^expense exp-7 was already started: task `+id+` `)
	// Another amount under the same --id names the flags, not only the
	// store's identity key.
	mustFail(t, "expense exp-7 was already started with another --amount or --employee: give a new --id", "approval", "start", "--amount", "43", "--id", "exp-7", "--db", db)

	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st, Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := approval.Register(e, approval.Options{}); err != nil {
		t.Fatal(err)
	}
	// Charged, then suspended on the event wait: nothing more is ready.
	if n, err := e.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce ran %d attempts, %v; want the driver once", n, err)
	}
	out = mustExecute(t, "tasks", "show", id, "--db", db)
	wantMatch(t, out, `(?m)^state\s+in_progress$`)
	wantMatch(t, out, `(?m)^-\s+workflow\s+driver\s+suspended \(next run `)
	wantMatch(t, out, `(?m)^1\s+charge\s+step\s+complete\s+1/3\s+-\s+"ch_exp-7"$`)
	wantMatch(t, out, `(?m)^2\s+approval\s+event\s+waiting \(times out `)

	mustFail(t, `--payload is not valid JSON (unexpected end of JSON input): "{\"approved\":"`, "events", "send", id, "approval", "--payload", `{"approved":`, "--db", db)
	// Given empty (--payload "$P", P unset), the message ended with nothing.
	mustFail(t, `--payload is not valid JSON (unexpected end of JSON input): ""`, "events", "send", id, "approval", "--payload", "", "--db", db)
	mustFail(t, "task 999 not found", "events", "send", "999", "approval", "--db", db)
	payload := `{ "approved": true, "by": "bob" }`
	out = mustExecute(t, "events", "send", id, "approval", "--key", "decision", "--payload", payload, "--db", db)
	wantMatch(t, out, `^event approval sent to task `+id+` \(new, key decision\): \{"approved":true,"by":"bob"\}\n$`)
	out = mustExecute(t, "events", "send", id, "approval", "--key", "decision", "--payload", `{"approved":false,"by":"eve"}`, "--db", db)
	wantMatch(t, out, `^event approval to task `+id+` is a duplicate: key decision was already sent; nothing changed`)

	// The worker, in-process; its context ending plays SIGINT.
	stopWorker := startWorker(ctx, t, db)
	taskID, _ := strconv.ParseInt(id, 10, 64)
	// Our engine (not running) waits by polling the shared file.
	outcome, err := engine.GetWorkflow[approval.Outcome](e, taskID).Result(ctx)
	wout := stopWorker()
	if err != nil {
		t.Fatal(err)
	}
	if outcome.Status != "settled" || outcome.By != "bob" || outcome.ChargeID != "ch_exp-7" {
		t.Fatalf("outcome %+v", outcome)
	}
	// The settle durable step and the driver itself: Stats counts the
	// durable steps of code-first workflows.
	wantMatch(t, wout, `worker stopped: 2 steps completed`)

	out = mustExecute(t, "tasks", "show", id, "--db", db)
	wantMatch(t, out, `(?m)^state\s+complete$`)
	wantMatch(t, out, `(?m)^-\s+workflow\s+driver\s+complete\s+1/10\s+-\s+\{"status":"settled"`)
	wantMatch(t, out, `(?m)^2\s+approval\s+event\s+complete\s+-\s+-\s+\{.*"key":"decision"`)
	wantMatch(t, out, `(?m)^3\s+settle\s+step\s+complete\s+1/3\s`)
	wantMatch(t, out, `step workflow\s+in_progress → pending\s+.*"waiting_for":"event approval"`)

	mustFail(t, "it is complete, and no wait would ever consume the event", "events", "send", id, "approval", "--db", db)
	// The decision sent again once the workflow has finished (a script
	// repeating a send that succeeded): a duplicate, as --help says, not
	// a failure.
	out = mustExecute(t, "events", "send", id, "approval", "--key", "decision", "--payload", payload, "--db", db)
	wantMatch(t, out, `^event approval to task `+id+` is a duplicate: key decision was already sent; nothing changed`)
	mustFail(t, "it is complete, and no wait would ever consume the event", "events", "send", id, "approval", "--key", "another", "--db", db)
	// A DAG task waits for no event.
	dag := filepath.Join(t.TempDir(), "dag.db")
	mustExecute(t, "demo", "--orders", "1", "--db", dag)
	mustFail(t, "it is a dag workflow (ecommerce/process_order), and only code-first workflows wait for events", "events", "send", "1", "approval", "--db", dag)
}

// An --amount with a leading zero or spaces around it is refused naming
// it, before anything is opened, as the CLI's whole-number flags and the
// configuration refuse such numbers: "042" and " 42" were taken as 42.
func TestApprovalAmountAsWritten(t *testing.T) {
	db := filepath.Join(t.TempDir(), "approval.db")
	mustFail(t, `--amount "042" has a leading zero: write "42"`, "approval", "start", "--amount", "042", "--db", db)
	mustFail(t, `--amount "00.50" has a leading zero: write "0.50"`, "approval", "start", "--amount", "00.50", "--db", db)
	mustFail(t, `--amount " 42" has spaces around it: write "42"`, "approval", "start", "--amount", " 42", "--db", db)
	mustFail(t, `--amount "42.5\n" has spaces around it: write "42.5"`, "approval", "start", "--amount", "42.5\n", "--db", db)
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused command created the database (%v)", err)
	}
	for s, want := range map[string]int64{"0.50": 50, "42": 4200, "10.5": 1050} {
		if got, err := parseCents(s); err != nil || got != want {
			t.Errorf("parseCents(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
}
