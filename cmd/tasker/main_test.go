package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/orderflow"
	"github.com/tasker-go/tasker/internal/bench"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// roleEnv makes the test binary, re-executed, act as `tasker` itself:
// "worker" adds the stuck workflow (stuckWorkflow) to the worker.
const roleEnv = "TASKER_TEST_CLI_ROLE"

// TestMain lets the test binary act as tasker: the bench re-executes
// os.Executable() (this binary, in tests) with bench.WorkerEnv set, and
// the worker tests run it with roleEnv set.
func TestMain(m *testing.M) {
	switch {
	case os.Getenv(bench.WorkerEnv) != "":
		os.Exit(run(os.Args[1:]))
	case os.Getenv(roleEnv) == "worker":
		registerExtra = registerStuck
		os.Exit(run(os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// execute runs the CLI in-process and returns what it printed.
func execute(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func mustExecute(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := execute(t, ctx, args...)
	if err != nil {
		t.Fatalf("tasker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func mustFail(t *testing.T, want string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := execute(t, ctx, args...)
	if err == nil {
		t.Fatalf("tasker %s succeeded, want an error containing %q:\n%s", strings.Join(args, " "), want, out)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("tasker %s: error %q, want it to contain %q", strings.Join(args, " "), err, want)
	}
}

func wantMatch(t *testing.T, out, pattern string) []string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output does not match %q:\n%s", pattern, out)
	}
	return m
}

// rows returns the table rows (after the header) that start with a number.
func rows(out string) []string {
	var r []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if _, err := strconv.Atoi(f[0]); err == nil {
				r = append(r, line)
			}
		}
	}
	return r
}

func TestDemoThenInspect(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	out := mustExecute(t, "demo", "--orders", "5", "--db", db)
	wantMatch(t, out, `(?m)^orders\s+5$`)
	wantMatch(t, out, `(?m)^  complete\s+5$`)
	wantMatch(t, out, `(?m)^  error\s+0$`)
	wantMatch(t, out, `(?m)^retries\s+1$`) // order 3's payment
	wantMatch(t, out, `(?m)^steps run\s+26\s+\(25 completed, 0 failed\)$`)
	wantMatch(t, out, `(?m)^workflows/s\s+\d`)
	wantMatch(t, out, `5/5 orders done \(5 complete, 0 error\)`)
	if strings.Contains(out, "\r") {
		t.Errorf("demo wrote a carriage return into a buffer (not a terminal):\n%q", out)
	}
	// The hint is a command to paste: a path with a space (or a URL
	// with &) is quoted for the shell.
	spaced := filepath.Join(t.TempDir(), "my demo.db")
	wantMatch(t, mustExecute(t, "demo", "--orders", "1", "--db", spaced), `(?m)^inspect them: tasker tasks ls --db '`+regexp.QuoteMeta(spaced)+`'$`)

	out = mustExecute(t, "tasks", "ls", "--db", db)
	wantMatch(t, out, `ID\s+WORKFLOW\s+VERSION\s+STATE`)
	r := rows(out)
	if len(r) != 5 {
		t.Fatalf("tasks ls lists %d tasks, want 5:\n%s", len(r), out)
	}
	for i, line := range r {
		wantMatch(t, line, fmt.Sprintf(`^%d\s+ecommerce/process_order\s+1\.0\.0\s+complete\s+0\s`, 5-i))
	}
	if r := rows(mustExecute(t, "tasks", "ls", "--db", db, "--limit", "2")); len(r) != 2 {
		t.Fatalf("--limit 2 lists %d", len(r))
	}
	if out := mustExecute(t, "tasks", "ls", "--db", db, "--state", "error"); !strings.Contains(out, "no tasks") {
		t.Fatalf("--state error:\n%s", out)
	}
	mustFail(t, `unknown state "done"`, "tasks", "ls", "--db", db, "--state", "done")
	// A misspelt workflow names the recent one it is a slip away from; one
	// nothing is close to, and a page past the first, say only "no tasks".
	if out := mustExecute(t, "tasks", "ls", "--db", db, "--workflow", "ecommerce/proces_order"); out != "no tasks of workflow \"ecommerce/proces_order\"; did you mean \"ecommerce/process_order\"?\n" {
		t.Fatalf("--workflow ecommerce/proces_order:\n%s", out)
	}
	for _, args := range [][]string{{"--workflow", "billing/invoice"}, {"--workflow", "ecommerce/proces_order", "--before", "1"}} {
		if out := mustExecute(t, append([]string{"tasks", "ls", "--db", db}, args...)...); out != "no tasks\n" {
			t.Fatalf("%v:\n%s", args, out)
		}
	}
	if r := rows(mustExecute(t, "tasks", "ls", "--db", db, "--workflow", "ecommerce/process_order")); len(r) != 5 {
		t.Fatalf("--workflow ecommerce/process_order lists %d tasks, want 5", len(r))
	}

	// Task 3 is order 3, whose first payment attempt failed.
	out = mustExecute(t, "tasks", "show", "3", "--db", db)
	wantMatch(t, out, `(?m)^state\s+complete$`)
	wantMatch(t, out, `(?m)^charge_payment\s+complete\s+2/3\s+validate_cart\s+retryable: charging order 3 .*\s\{"payment_id":"pay_3:charge_payment"`)
	wantMatch(t, out, `(?m)^create_order\s+complete\s+1/3\s+charge_payment,reserve_inventory\s`)
	wantMatch(t, out, `(?m)^TIME\s+OBJECT\s+TRANSITION\s+DETAIL$`)
	wantMatch(t, out, `step charge_payment\s+in_progress → pending\s+retryable: charging order 3 at https://pay.example/charge`)
	wantMatch(t, out, `task\s+in_progress → complete`)
	// 3 task moves, or 2 when the start claimed the first step with the
	// task (created in_progress, never pending); 2 per step, and 2 more for
	// the retried payment.
	history := out[strings.Index(out, "HISTORY"):]
	created, taskMoves := "(new) → pending", 3
	if strings.Contains(history, "(new) → in_progress") {
		created, taskMoves = "(new) → in_progress", 2
	}
	if n := strings.Count(history, "→"); n != taskMoves+2*5+2 {
		t.Errorf("history has %d transitions, want %d", n, taskMoves+2*5+2)
	}
	if !strings.Contains(history, "task                    "+created) ||
		strings.Index(history, created) > strings.Index(history, "step validate_cart") ||
		strings.LastIndex(history, "task  ") < strings.LastIndex(history, "step send_confirmation") {
		t.Errorf("history out of order:\n%s", history)
	}

	mustFail(t, "cannot cancel task 1: it is complete", "tasks", "cancel", "1", "--db", db)
	mustFail(t, "cannot retry task 1: it is complete, and only a task in error can be retried", "tasks", "retry", "1", "--db", db)
	mustFail(t, "cannot resolve step validate_cart of task 1: it is complete", "tasks", "resolve", "1", "validate_cart", "--db", db)
	mustFail(t, `task 1 has no step "nope"`, "tasks", "resolve", "1", "nope", "--db", db)
	mustFail(t, "task 99 not found", "tasks", "show", "99", "--db", db)
	mustFail(t, "task 99 not found", "tasks", "cancel", "99", "--db", db)
	mustFail(t, "task id must be a positive integer", "tasks", "show", "x", "--db", db)

	out = mustExecute(t, "tasks", "cancel", "1", "--force", "--db", db)
	wantMatch(t, out, `task 1 cancelled \(was complete\)`)
	mustFail(t, "already cancelled", "tasks", "cancel", "1", "--db", db)

	// A second run adds five new orders.
	wantMatch(t, mustExecute(t, "demo", "--orders", "5", "--db", db), `(?m)^  complete\s+5$`)
	if r := rows(mustExecute(t, "tasks", "ls", "--db", db, "--state", "complete")); len(r) != 9 {
		t.Fatalf("after two runs %d complete tasks, want 9", len(r))
	}

	out = mustExecute(t, "migrate", "--db", db)
	wantMatch(t, out, `^schema version [1-9]\d* \(SQLite .*demo\.db\)\n$`)
}

func TestMigrateCreatesTheSchema(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	db := filepath.Join(dir, "new.db")
	mustFail(t, "no database at "+db, "tasks", "ls", "--db", db)
	// A missing directory is a mistake to report, not to create.
	mustFail(t, "directory "+dir+" does not exist", "migrate", "--db", db)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := mustExecute(t, "migrate", "--db", db)
	m := wantMatch(t, out, `schema version (\d+)`)
	st, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := st.SchemaVersion(context.Background())
	if err != nil || strconv.Itoa(v) != m[1] {
		t.Fatalf("store says version %d (%v), migrate printed %s", v, err, m[1])
	}
	if out := mustExecute(t, "tasks", "ls", "--db", db); !strings.Contains(out, "no tasks") {
		t.Fatalf("fresh database lists:\n%s", out)
	}
}

func TestPostgresURLNeedsAServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Nothing listens on port 1: the error names the backend.
	_, err := execute(t, ctx, "migrate", "--db", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "postgres") {
		t.Fatalf("err = %v, want a postgres error", err)
	}
	mustFail(t, "connecting to 127.0.0.1:1/none", "bench", "--db", "postgres://x@127.0.0.1:1/none?connect_timeout=2")
}

// An order that failed is resolved and retried by an operator, and a
// worker started from the CLI finishes it; SIGINT (here: the context)
// stops the worker gracefully.
func TestResolveRetryAndWorker(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ops.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Two tasks, made by a program of our own: a pending one to cancel and
	// one with an empty cart, which fails validation permanently.
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Store: st, Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := orderflow.Register(e, orderflow.Options{}); err != nil {
		t.Fatal(err)
	}
	pending, err := e.Start(ctx, orderflow.Workflow, orderflow.SampleOrder(1))
	if err != nil {
		t.Fatal(err)
	}
	out := mustExecute(t, "tasks", "cancel", strconv.FormatInt(pending.TaskID, 10), "--db", db, "--reason", "customer changed their mind")
	wantMatch(t, out, `cancelled \(was pending\)`)
	out = mustExecute(t, "tasks", "show", strconv.FormatInt(pending.TaskID, 10), "--db", db)
	wantMatch(t, out, `(?m)^state\s+cancelled$`)
	wantMatch(t, out, `task\s+pending → cancelled\s+\{"reason":"customer changed their mind"\}`)

	// Two orders with empty carts: validation fails them permanently.
	bad, err := e.Start(ctx, orderflow.Workflow, orderflow.Input{OrderID: 9, Items: []orderflow.Item{}})
	if err != nil {
		t.Fatal(err)
	}
	bad2, err := e.Start(ctx, orderflow.Workflow, orderflow.Input{OrderID: 10, Items: []orderflow.Item{}})
	if err != nil {
		t.Fatal(err)
	}
	id, id2 := strconv.FormatInt(bad.TaskID, 10), strconv.FormatInt(bad2.TaskID, 10)
	runDone, err := e.RunBackground(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []*engine.TaskHandle{bad, bad2} {
		o, err := h.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if o.State != store.TaskError {
			t.Fatalf("empty cart ended %s", o.State)
		}
	}
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	out = mustExecute(t, "tasks", "show", id, "--db", db)
	wantMatch(t, out, `(?m)^validate_cart\s+error\s+1/3\s+-\s+permanent: order 9 has no items`)
	wantMatch(t, out, `(?m)^error\s+permanent: order 9 has no items`)
	r := rows(mustExecute(t, "tasks", "ls", "--db", db, "--state", "error,cancelled"))
	if len(r) != 3 || !regexp.MustCompile(`^`+id2+`\s+ecommerce/process_order\s+1\.0\.0\s+error`).MatchString(r[0]) {
		t.Fatalf("tasks ls --state error,cancelled:\n%s", strings.Join(r, "\n"))
	}

	// The first is resolved by hand: the task goes back to pending.
	mustFail(t, "--results is not valid JSON", "tasks", "resolve", id, "validate_cart", "--db", db, "--results", "{nope")
	out = mustExecute(t, "tasks", "resolve", id, "validate_cart", "--db", db,
		"--results", `{"order_id":9,"items":1,"units":2,"total_cents":500}`)
	wantMatch(t, out, `step validate_cart of task `+id+` resolved_manually\ntask `+id+`: error → pending\n`)
	// The second is retried: validation runs again (and fails again).
	out = mustExecute(t, "tasks", "retry", id2, "--db", db)
	wantMatch(t, out, `task `+id2+` is pending again`)

	// The worker, in-process: its context ending plays SIGINT.
	stopWorker := startWorker(ctx, t, db)
	// Our engine (not running) waits by polling the shared file.
	o, err := e.Wait(ctx, bad.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	o2, err := e.Wait(ctx, bad2.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	wout := stopWorker()
	if o.State != store.TaskComplete {
		t.Fatalf("after resolve the task ended %s: %s", o.State, o.Error)
	}
	if o2.State != store.TaskError {
		t.Fatalf("the retried empty cart ended %s", o2.State)
	}
	out = mustExecute(t, "tasks", "show", id2, "--db", db)
	wantMatch(t, out, `(?m)^validate_cart\s+error\s+1/3\s`)
	wantMatch(t, out, `task\s+error → pending\s+\{"reason":"operator retry"\}`)
	var order orderflow.Order
	if err := o.Decode("create_order", &order); err != nil || order.OrderNumber != "ORD-000009" || order.TotalCents != 500 {
		t.Fatalf("order %+v (%v)", order, err)
	}
	wantMatch(t, wout, `worker running ecommerce/process_order and expenses/approval on SQLite`)
	wantMatch(t, wout, `worker stopped: 4 steps completed, 1 retried, 1 failed`)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBenchTinyScale(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bench.db")
	// Scale 0.005: 50 one-step workflows for W1 and W4, 5 chains of 10,
	// one fan-out, 5 sequential chains; a few seconds even under -race.
	out := mustExecute(t, "bench", "--scale", "0.005", "--db", db)
	for _, w := range []string{"W1", "W1r", "W1m", "W1c", "W2", "W2c", "W3", "W4", "W4c", "W5", "W5c", "W5x"} {
		m := wantMatch(t, out, `(?m)^`+w+`\s.*\s(\d+)/(\d+)\s+\d`)
		if m[1] != m[2] || m[1] == "0" {
			t.Errorf("%s: %s of %s workflows complete", w, m[1], m[2])
		}
	}
	wantMatch(t, out, `(?m)^W1m\s.*started 50 by one StartMany in `)
	wantMatch(t, out, `(?m)^W4\s.*15 retries \(want 15\)`)
	wantMatch(t, out, `(?m)^W4c\s.*; 50 driver runs; 15 retries \(want 15\)`)
	wantMatch(t, out, `(?m)^W5\s.*latency p50 [\d.]+ ms, p99 [\d.]+ ms`)
	// W5x: this test binary re-executed as the worker process, on the file.
	wantMatch(t, out, `(?m)^W5x\s.*latency p50 [\d.]+ ms, p99 [\d.]+ ms.*; bench process: \d+ statements in Start`)
	// Code-first rows count per durable step: 5 workflows x 10 steps, one
	// driver run each (nothing suspends).
	wantMatch(t, out, `(?m)^W2c\s+code-first.*\s50 steps\s.*; 5 driver runs$`)
	wantMatch(t, out, `(?m)^W5c\s.*latency p50 [\d.]+ ms, p99 [\d.]+ ms.*; 5 driver runs$`)
	wantMatch(t, out, `(?m)^W1c\s+code-first.*\s50 workflows\s.*; 50 driver runs$`)
	wantMatch(t, out, `code-first/DAG step cost: W1c/W1: wall per workflow [\d.]+x \(\d+ vs \d+ workflows/s\); W2c/W2: wall per step [\d.]+x \(\d+ vs \d+ steps/s\), SQL per step [\d.]+x; W4c/W4: wall per workflow [\d.]+x \(\d+ vs \d+ workflows/s\); W5c/W5: p50 [\d.]+x, p99 [\d.]+x; (within|OVER) the 1.5x target`)
	wantMatch(t, out, `ceiling: \d+ commits/s`)
	wantMatch(t, out, `every workload complete`)

	out = mustExecute(t, "bench", "--scale", "0.001", "--db", db, "--workloads", "w2")
	if strings.Contains(out, "W1 ") || !strings.Contains(out, "W2 ") {
		t.Fatalf("--workloads w2 ran:\n%s", out)
	}
	out = mustExecute(t, "bench", "--scale", "0.001", "--db", db, "--workloads", "w5c")
	if strings.Contains(out, "W5 ") || !strings.Contains(out, "W5c ") || strings.Contains(out, "code-first/DAG") {
		t.Fatalf("--workloads w5c ran:\n%s", out)
	}
	mustFail(t, `unknown workload "W9"`, "bench", "--workloads", "W9")
}

// startWorker runs `tasker worker` in-process on db; the returned stop
// plays SIGINT (cancels its context), waits for it, and returns its output.
func startWorker(ctx context.Context, t *testing.T, db string) (stop func() string) {
	t.Helper()
	wctx, cancel := context.WithCancel(ctx)
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		cmd := newRootCmd()
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"worker", "--db", db, "--poll", "20ms"})
		done <- cmd.ExecuteContext(wctx)
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})
	return func() string {
		t.Helper()
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("worker: %v\n%s", err, out.String())
		}
		return out.String()
	}
}

// A bench flag the chosen run would ignore is refused before anything runs
// (no file is created): --only without --experiments ran every workload.
func TestBenchRefusesIgnoredFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bench.db")
	mustFail(t, "--only does nothing with the workloads", "bench", "--only", "E1", "--scale", "0.001", "--db", db)
	mustFail(t, "--workloads does nothing with --experiments", "bench", "--experiments", "--workloads", "W1", "--db", db)
	mustFail(t, "--scale does nothing with --soak", "bench", "--soak", "1s", "--scale", "0.1", "--db", db)
	mustFail(t, "--metrics does nothing with the workloads on PostgreSQL", "bench", "--metrics", "--db", "postgres://127.0.0.1:1/none")
	if files, _ := filepath.Glob(filepath.Join(filepath.Dir(db), "*")); len(files) != 0 {
		t.Fatalf("a refused bench left %v", files)
	}
}

// --experiments and --soak run their SQLite rows in a temporary directory
// of their own: a SQLite --db path is refused, naming it (it was dropped
// without a word, and nothing was written where it said). Refused before
// anything runs: no file is created.
func TestBenchSoakAndExperimentsRefuseSQLitePath(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bench.db")
	mustFail(t, "--db "+db+" does nothing with --soak", "bench", "--soak", "1s", "--db", db)
	mustFail(t, "--db "+db+" does nothing with --experiments", "bench", "--experiments", "--scale", "0.001", "--db", db)
	if files, _ := filepath.Glob(filepath.Join(filepath.Dir(db), "*")); len(files) != 0 {
		t.Fatalf("a refused bench left %v", files)
	}
	cmd := newBenchCmd()
	if err := cmd.ParseFlags([]string{"--db", "postgres://127.0.0.1:1/none"}); err != nil {
		t.Fatal(err)
	}
	if err := benchUnusedFlags(cmd, false, true, true); err != nil {
		t.Fatalf("--soak with a postgres:// --db: %v", err)
	}
	if err := benchUnusedFlags(cmd, true, false, true); err != nil {
		t.Fatalf("--experiments with a postgres:// --db: %v", err)
	}
}

// bench --experiments --only "" ("$ONLY" unset) ran every experiment, as
// if --only had not been given; it is refused, as chaos --only "" is.
func TestBenchEmptyOnlyRefused(t *testing.T) {
	mustFail(t, `--only is empty (got ""): name experiments (E1,E3)`, "bench", "--experiments", "--only", "", "--scale", "0.001")
	mustFail(t, `--only is empty (got " , ")`, "bench", "--experiments", "--only", " , ", "--scale", "0.001")
}

// bench --soak too short for four samples (one a second under 8 s) is
// refused, naming it: the run's verdict was "too short to fit; flat: NO",
// a memory growth it had not measured.
func TestBenchShortSoakRefused(t *testing.T) {
	mustFail(t, "--soak: 1s is under 5s", "bench", "--soak", "1s")
	mustFail(t, "--soak: 4.9s is under 5s", "bench", "--soak", "4.9s")
}

// bench --cpuprofile and --trace naming one file are refused, naming both:
// each truncated it and wrote into it, leaving a file neither go tool
// pprof nor go tool trace reads. Refused before anything runs.
func TestBenchProfileAndTraceFilesDiffer(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "out.prof")
	mustFail(t, "--cpuprofile and --trace name the same file", "bench", "--cpuprofile", f, "--trace", dir+"/./out.prof", "--workloads", "W1", "--scale", "0.001")
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Fatalf("a refused bench left %v", files)
	}
}

// Empty values and conflicting flags are refused before the database is
// opened (none is created): approval start --employee "" started an
// expense "by " nobody, --id "" silently took a random id (and --id " "
// started an expense of that id), events send
// with an empty NAME failed deep in the engine ("sending event  to task
// 4: sending event: name: is required"), and worker --drain with its
// former name --shutdown-timeout kept one of the two without a word.
func TestEmptyAndConflictingFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	mustFail(t, `--employee is empty: name who spent it`, "approval", "start", "--amount", "10", "--employee", "", "--db", db)
	mustFail(t, `--id is empty: give the expense id, or leave --id out`, "approval", "start", "--amount", "10", "--id", "", "--db", db)
	mustFail(t, `--id is blank (" "): give the expense id, or leave --id out`, "approval", "start", "--amount", "10", "--id", " ", "--db", db)
	mustFail(t, `the event NAME is empty`, "events", "send", "1", " ", "--db", db)
	mustFail(t, `--drain and --shutdown-timeout are one setting`, "worker", "--drain", "1s", "--shutdown-timeout", "2s", "--db", db)
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused command created %s (%v)", db, err)
	}
}

// --procs on SQLite is refused, naming it: the SQLite workloads run one
// engine in this process whatever it says (--procs 3 ran them as if it
// were not given). Checked on the flags alone: nothing runs.
func TestBenchRefusesProcsOnSQLite(t *testing.T) {
	cmd := newBenchCmd()
	if err := cmd.ParseFlags([]string{"--procs", "3"}); err != nil {
		t.Fatal(err)
	}
	if err := benchUnusedFlags(cmd, false, false, false); err == nil || !strings.Contains(err.Error(), "--procs does nothing with the workloads on SQLite") {
		t.Fatalf("--procs on SQLite: %v, want it refused", err)
	}
	if err := benchUnusedFlags(cmd, false, false, true); err != nil {
		t.Fatalf("--procs on PostgreSQL: %v", err)
	}
	if err := benchUnusedFlags(newBenchCmd(), false, false, false); err != nil {
		t.Fatalf("no flags on SQLite: %v", err)
	}
}

// events send --key "" (an unset shell variable, say) is refused before
// anything is opened: it sent the event with no key, so sending it again
// sent another one instead of being a duplicate.
func TestEventsSendRefusesAnEmptyKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	mustFail(t, `--key is empty: give the idempotency key, or leave --key out`, "events", "send", "1", "approval", "--key", "", "--db", db)
	mustFail(t, `--key is empty: give the idempotency key, or leave --key out`, "events", "send", "1", "approval", "--key", "  ", "--db", db)
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused command created %s (%v)", db, err)
	}
}

// events send with a NAME beginning with "update:" is refused before
// anything is opened, naming the prefix: it sent a fake update, which the
// workflow's ReceiveUpdate took and whose answer nobody could read.
func TestEventsSendRefusesTheUpdatePrefix(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	mustFail(t, `the event NAME "update:bump" begins with "update:"`, "events", "send", "1", "update:bump", "--db", db)
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused command created %s (%v)", db, err)
	}
}

// tasks cancel with an empty or blank --reason (an unset shell variable)
// is refused before anything is opened: it recorded a cancellation whose
// reason said nothing.
func TestTasksCancelRefusesAnEmptyReason(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	for _, reason := range []string{"", "  "} {
		mustFail(t, `--reason is empty`, "tasks", "cancel", "1", "--reason", reason, "--db", db)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused command created %s (%v)", db, err)
	}
}
