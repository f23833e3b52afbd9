package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// idleEngine runs e and returns once its claim loop has made its first
// look (before it, eager dispatch holds back: older ready work may wait).
func idleEngine(t *testing.T, e *engine.Engine) {
	t.Helper()
	run(t, e)
	waitFor(t, "the claim loop's first look", func() bool { return e.Stats().ClaimTransactions > 0 })
}

// A start in a process with free slots runs its first step there without a
// claim transaction; a start in the caller's transaction, or with no room
// left, goes through the claim loop.
func TestEagerDispatch(t *testing.T) {
	ctx := context.Background()
	// An hour's poll: only a wake-up or eager dispatch can start a step.
	e := newEngine(t, engine.Config{Execution: engine.ExecutionConfig{PollInterval: time.Hour, MaxConcurrency: 1}})
	release := make(chan struct{})
	var once sync.Once
	releaseOnce := func() { once.Do(func() { close(release) }) }
	must(t, e.HandleFunc("work", func(sc *engine.StepContext) (any, error) {
		var in struct{ Hold bool }
		if err := sc.Input(&in); err != nil {
			return nil, err
		}
		if in.Hold {
			<-release
		}
		return "ok", nil
	}))
	must(t, e.Register(&engine.Template{Namespace: "eager", Name: "one", Steps: []engine.StepTemplate{{Name: "a", Handler: "work"}, {Name: "b", Handler: "work", DependsOn: []string{"a"}}}}))
	idleEngine(t, e)
	// After idleEngine's Run, so that it runs before Run's Stop (cleanups
	// run last first): a failed check must not leave the held handler
	// blocking Stop (it hung the suite until its timeout).
	t.Cleanup(releaseOnce)
	// The claim loop, woken by a commit of the engine's own (the worker
	// registry's, say), may hold the only slot when a start looks for
	// room, and then it claims the step: on a loaded machine that happened
	// now and then. Some start of a few is claimed by the start itself,
	// with no claim transaction; without eager dispatch none would be.
	var got []string
	for range 5 {
		before := e.Stats()
		h, err := e.Start(ctx, "eager/one", map[string]any{})
		must(t, err)
		out, err := h.Wait(ctx)
		must(t, err)
		if out.State != store.TaskComplete {
			t.Fatalf("task ended %s", out.State)
		}
		st := e.Stats()
		atStart, claims := st.StepsClaimedAtStart-before.StepsClaimedAtStart, st.ClaimTransactions-before.ClaimTransactions
		if atStart == 1 && claims == 0 {
			got = nil
			break
		}
		got = append(got, fmt.Sprintf("claimed at start %d with %d claim transactions", atStart, claims))
	}
	if got != nil {
		t.Fatalf("no start of 5 ran its first step without a claim transaction: %v", got)
	}
	st := e.Stats()

	// No room: the held task takes the only slot; the next start leaves
	// its step to the claim loop, which runs it once the slot frees. (This
	// comes before any claim by the loop: with one slot, a claim that
	// fills it reports a backlog, and eager dispatch holds back until the
	// loop's next look finds less than it asked for.)
	held, err := e.Start(ctx, "eager/one", map[string]any{"hold": true})
	must(t, err)
	waitFor(t, "the held step to run", func() bool { return e.Stats().Running == 1 })
	next, err := e.Start(ctx, "eager/one", map[string]any{"n": 2})
	must(t, err)
	if got := e.Stats().StepsClaimedAtStart - st.StepsClaimedAtStart; got != 1 {
		t.Fatalf("claimed at start %d, want 1 (the held task's; no room for the next)", got)
	}
	releaseOnce()
	for _, x := range []*engine.TaskHandle{held, next} {
		out, err := x.Wait(ctx)
		must(t, err)
		if out.State != store.TaskComplete {
			t.Fatalf("task %d ended %s", x.TaskID, out.State)
		}
	}

	st = e.Stats()
	// The caller's transaction: nothing may run before it commits, so the
	// claim loop (woken by the start) claims it.
	tx, err := e.Store().DB().BeginTx(ctx, nil)
	must(t, err)
	h2, err := e.Start(ctx, "eager/one", map[string]any{"tx": true}, engine.InTx(tx))
	must(t, err)
	must(t, tx.Commit())
	_, err = h2.Wait(ctx)
	must(t, err)
	if got := e.Stats().StepsClaimedAtStart; got != st.StepsClaimedAtStart {
		t.Fatalf("a start in the caller's transaction claimed %d steps at start", got-st.StepsClaimedAtStart)
	}
}

const eagerChildEnv = "TASKER_EAGER_CHILD"

// eagerChild starts one task on a running engine whose handler reports that
// it runs, and how its step was claimed, then hangs until killed.
func eagerChild() {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, os.Getenv(eagerChildEnv), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	e, err := engine.New(engine.Config{Store: s, WorkerID: "eager-child", Execution: engine.ExecutionConfig{LeaseTTL: time.Second, PollInterval: time.Hour}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	_ = e.HandleFunc("hang", func(sc *engine.StepContext) (any, error) {
		st := e.Stats()
		fmt.Printf("done claimed_at_start=%d claim_transactions=%d\n", st.StepsClaimedAtStart, st.ClaimTransactions)
		select {}
	})
	_ = e.Register(&engine.Template{Namespace: "eager", Name: "hang", Steps: []engine.StepTemplate{{Name: "a", Handler: "hang", RetryLimit: 3}}})
	go func() { _ = e.Run(ctx) }()
	for e.Stats().ClaimTransactions == 0 { // the claim loop's first look
		time.Sleep(time.Millisecond)
	}
	if _, err := e.Start(ctx, "eager/hang", map[string]any{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	select {}
}

// A step claimed by its start in a process killed with SIGKILL while it
// runs is an ordinary lease: once it expires another process takes the
// step over (a second attempt), and the task completes with the step
// recorded complete once.
func TestEagerDispatchSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	dbPath := filepath.Join(t.TempDir(), "eager.db")
	lines := killChildAfter(t, eagerChildEnv+"="+dbPath, 1)
	if !strings.Contains(lines[0], "claimed_at_start=1 claim_transactions=1") {
		t.Fatalf("the child's step was not claimed by its start: %q", lines[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sqlite.Open(ctx, dbPath, nil)
	must(t, err)
	t.Cleanup(func() { s.Close() }) // after the engine's Stop (cleanups run last first)
	d, err := s.GetTask(ctx, 1)
	must(t, err)
	a := d.Step("a")
	if d.Task.State != store.TaskInProgress || a.State != store.StepInProgress || a.Attempts != 1 || a.LeaseOwner == nil || *a.LeaseOwner != "eager-child" {
		t.Fatalf("after the kill: task %s, step %s, %d attempts, owner %v", d.Task.State, a.State, a.Attempts, a.LeaseOwner)
	}
	e, err := engine.New(engine.Config{Store: s})
	must(t, err)
	must(t, e.HandleFunc("hang", func(sc *engine.StepContext) (any, error) { return "done", nil }))
	must(t, e.Register(&engine.Template{Namespace: "eager", Name: "hang", Steps: []engine.StepTemplate{{Name: "a", Handler: "hang", RetryLimit: 3}}}))
	run(t, e)
	out, err := e.Wait(ctx, 1)
	must(t, err)
	if out.State != store.TaskComplete {
		t.Fatalf("task ended %s", out.State)
	}
	d, err = s.GetTask(ctx, 1)
	must(t, err)
	if got := d.Step("a").Attempts; got != 2 {
		t.Fatalf("step a took %d attempts, want 2 (the killed one and the takeover)", got)
	}
	h, err := s.History(ctx, 1)
	must(t, err)
	var path []string
	for _, tr := range h.Steps {
		path = append(path, *tr.FromState+"→"+tr.ToState)
	}
	if got := strings.Join(path, " "); got != "pending→in_progress in_progress→pending pending→in_progress in_progress→complete" {
		t.Fatalf("step a's history: %s", got)
	}
}
