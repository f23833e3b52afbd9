package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

const wfCrashChildEnv = "TASKER_WF_CRASH_CHILD"

const wfCrashTasks = 24

// The child process of TestWorkflowCrashKill9 runs from init, before
// TestMain, and never returns: it is killed.
func init() {
	if v := os.Getenv(wfCrashChildEnv); v != "" {
		wfCrashChild(v)
	}
}

// crashFlow registers a code-first workflow of five durable steps and a
// sleep; each step appends its idempotency key to the ledger (the side
// effect) and reports it.
func crashFlow(e *engine.Engine, ledger *os.File, progress func(string)) error {
	var mu sync.Mutex
	effect := func(ctx context.Context) (string, error) {
		info, _ := engine.StepInfoFrom(ctx)
		time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
		mu.Lock()
		_, err := ledger.WriteString(info.IdempotencyKey + "\n")
		mu.Unlock()
		if err != nil {
			return "", err
		}
		progress(info.IdempotencyKey)
		return info.Name, nil
	}
	return engine.RegisterWorkflow(e, "crash/wf", func(wctx *engine.WorkflowContext, in struct{ N int }) (int, error) {
		for i, name := range []string{"validate", "charge", "reserve"} {
			if _, err := engine.Step(wctx, name, effect); err != nil {
				return i, err
			}
		}
		if err := engine.Sleep(wctx, 150*time.Millisecond); err != nil {
			return 0, err
		}
		for _, name := range []string{"create", "confirm"} {
			if _, err := engine.Step(wctx, name, effect); err != nil {
				return 0, err
			}
		}
		return in.N, nil
	})
}

// wfCrashConfig is crashConfig with a longer lease: on a loaded machine a
// 1 s lease can expire under a live driver, and a second driver then runs
// the same step concurrently (at-least-once, but not what this test is about).
func wfCrashConfig(s store.Store) engine.Config {
	c := crashConfig(s)
	c.Execution.LeaseTTL = 3 * time.Second
	return c
}

func startCrashFlows(ctx context.Context, e *engine.Engine) ([]*engine.WorkflowHandle[int], error) {
	hs := make([]*engine.WorkflowHandle[int], wfCrashTasks)
	for i := range wfCrashTasks {
		h, err := engine.StartWorkflow[struct{ N int }, int](ctx, e, "crash/wf", struct{ N int }{i})
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	return hs, nil
}

func wfCrashChild(env string) {
	dbPath, ledgerPath, _ := strings.Cut(env, "|")
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s, err := sqlite.Open(ctx, dbPath, nil)
	if err != nil {
		fail(err)
	}
	ledger, err := os.OpenFile(ledgerPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fail(err)
	}
	e, _ := engine.New(wfCrashConfig(s))
	var out sync.Mutex
	if err := crashFlow(e, ledger, func(key string) { out.Lock(); fmt.Println("done", key); out.Unlock() }); err != nil {
		fail(err)
	}
	go e.Run(ctx)
	if _, err := startCrashFlows(ctx, e); err != nil {
		fail(err)
	}
	select {} // until killed
}

// TestWorkflowCrashKill9 kills a process in the middle of code-first
// workflows (five steps and a sleep each), restarts on the same database,
// and checks that every step recorded before the kill ran exactly once,
// that every workflow completes, and that only attempts in flight at the
// kill ran twice.
func TestWorkflowCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs a child process")
	}
	dir := t.TempDir()
	dbPath, ledgerPath := filepath.Join(dir, "wf.db"), filepath.Join(dir, "ledger.txt")
	killChildAfter(t, wfCrashChildEnv+"="+dbPath+"|"+ledgerPath, 10+rand.IntN(wfCrashTasks*5-40))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sqlite.Open(ctx, dbPath, nil)
	must(t, err)
	defer s.Close()
	// What was recorded before the kill.
	var before []struct {
		TaskID   int64  `bun:"task_id"`
		Sequence int    `bun:"sequence"`
		Name     string `bun:"name"`
	}
	must(t, s.DB().NewRaw(`SELECT task_id, sequence, name FROM tasker_steps WHERE sequence IS NOT NULL AND state = 'complete' AND handler = 'workflow.step'`).Scan(ctx, &before))
	t.Logf("%d durable steps were recorded before the kill", len(before))

	ledger, err := os.OpenFile(ledgerPath, os.O_APPEND|os.O_WRONLY, 0o644)
	must(t, err)
	defer ledger.Close()
	e, err := engine.New(wfCrashConfig(s))
	must(t, err)
	must(t, crashFlow(e, ledger, func(string) {}))
	run(t, e)
	hs, err := startCrashFlows(ctx, e)
	must(t, err)
	for i, h := range hs {
		n, err := h.Result(ctx)
		must(t, err)
		if n != i {
			t.Fatalf("workflow %d returned %d", i, n)
		}
	}
	data, err := os.ReadFile(ledgerPath)
	must(t, err)
	effects := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		effects[l]++
	}
	if len(effects) != wfCrashTasks*5 {
		t.Fatalf("ledger has %d distinct side effects, want %d", len(effects), wfCrashTasks*5)
	}
	for _, r := range before {
		name, _, _ := strings.Cut(r.Name, "#")
		key := fmt.Sprintf("%d:%d:%s", r.TaskID, r.Sequence, name)
		if effects[key] != 1 {
			t.Fatalf("step %s was recorded before the kill but its side effect happened %d times", key, effects[key])
		}
	}
	again := 0
	for _, n := range effects {
		again += n - 1
	}
	if again > 32 { // in flight at the kill (16 drivers), or rerun after a lease expired under load
		t.Fatalf("%d side effects ran again; only the attempts in flight at the kill may", again)
	}
	t.Logf("%d side effects ran twice (in flight when killed)", again)
	counts, err := s.CountByState(ctx)
	must(t, err)
	if counts.Tasks[store.TaskComplete] != wfCrashTasks || counts.Steps[store.StepComplete] != wfCrashTasks*7 {
		t.Fatalf("counts %+v", counts)
	}
}

// TestWorkflowCancelChaos stops the engine hard (the running steps'
// contexts are cancelled, their leases released) at random points three
// times and resumes the same workflow on a new engine each time: the
// recorded steps always form a gap-free prefix 1..n, and no step recorded
// before a stop runs again.
func TestWorkflowCancelChaos(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "chaos.db"), nil)
	must(t, err)
	defer s.Close()
	const steps = 12
	var mu sync.Mutex
	ran := map[string]int{}
	total := 0
	register := func(e *engine.Engine) {
		must(t, engine.RegisterWorkflow(e, "chaos/wf", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
			sum := 0
			for i := range steps {
				v, err := engine.Step(wctx, fmt.Sprintf("s%d", i), func(ctx context.Context) (int, error) {
					select {
					case <-ctx.Done():
						return 0, ctx.Err()
					case <-time.After(time.Duration(1+rand.IntN(8)) * time.Millisecond):
					}
					info, _ := engine.StepInfoFrom(ctx)
					mu.Lock()
					ran[info.IdempotencyKey]++
					total++
					mu.Unlock()
					return i, nil
				})
				if err != nil {
					return 0, err
				}
				sum += v
			}
			return sum, nil
		}))
	}
	cfg := engine.Config{Store: s, Execution: engine.ExecutionConfig{LeaseTTL: time.Second, RescueInterval: 50 * time.Millisecond, PollInterval: 20 * time.Millisecond}}
	var taskID int64
	recorded := map[string]int{} // key → its run count when first seen recorded
	for cycle := range 4 {
		e, err := engine.New(cfg)
		must(t, err)
		register(e)
		h, err := engine.StartWorkflow[struct{}, int](ctx, e, "chaos/wf", struct{}{})
		must(t, err)
		taskID = h.TaskID
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.Run(runCtx) }()
		if cycle < 3 {
			// Stop at a random point after one to three more steps ran,
			// with a random extra delay (often mid-step).
			mu.Lock()
			target := total + 1 + rand.IntN(3)
			mu.Unlock()
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				mu.Lock()
				reached := total >= target
				mu.Unlock()
				if reached {
					break
				}
			}
			time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
			stop() // hard stop: running steps see their context cancelled
			must(t, <-done)
		} else {
			v, err := h.Result(ctx)
			stop()
			must(t, <-done)
			must(t, err)
			if v != steps*(steps-1)/2 {
				t.Fatalf("result %d", v)
			}
		}
		d, err := s.GetTask(ctx, taskID)
		must(t, err)
		var seqs []int
		mu.Lock()
		for _, st := range d.Steps {
			if st.Sequence == nil {
				continue
			}
			if st.State != store.StepComplete {
				t.Fatalf("cycle %d: durable step %s is %s", cycle, st.Name, st.State)
			}
			seqs = append(seqs, *st.Sequence)
			name, _, _ := strings.Cut(st.Name, "#")
			key := fmt.Sprintf("%d:%d:%s", taskID, *st.Sequence, name)
			if n, ok := recorded[key]; ok && ran[key] != n {
				t.Fatalf("cycle %d: recorded step %s ran again (%d → %d)", cycle, key, n, ran[key])
			}
			if _, ok := recorded[key]; !ok {
				recorded[key] = ran[key]
			}
		}
		mu.Unlock()
		slices.Sort(seqs)
		for i, q := range seqs {
			if q != i+1 {
				t.Fatalf("cycle %d: recorded sequences %v are not a gap-free prefix", cycle, seqs)
			}
		}
		t.Logf("cycle %d: %d steps recorded", cycle, len(seqs))
	}
	if len(recorded) != steps {
		t.Fatalf("%d steps recorded, want %d", len(recorded), steps)
	}
}
