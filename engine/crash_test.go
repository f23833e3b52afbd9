package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

const crashChildEnv = "TASKER_CRASH_CHILD"

const crashTasks = 500

// crashWorkflow registers a five-step order workflow whose handlers append
// their idempotency key to a ledger (the side effect) and then report it on
// progress.
func crashWorkflow(e *engine.Engine, ledger *os.File, progress func(string)) error {
	var mu sync.Mutex
	h := func(sc *engine.StepContext) (any, error) {
		mu.Lock()
		_, err := ledger.WriteString(sc.IdempotencyKey + "\n")
		mu.Unlock()
		if err != nil {
			return nil, err
		}
		progress(sc.IdempotencyKey)
		return sc.Step, nil
	}
	if err := e.HandleFunc("side_effect", h); err != nil {
		return err
	}
	return e.Register(&engine.Template{Namespace: "crash", Name: "order", Steps: []engine.StepTemplate{
		// Generous attempts: on a loaded machine a late heartbeat can
		// lose a lease, and that attempt counts.
		{Name: "validate", Handler: "side_effect", RetryLimit: 10},
		{Name: "charge", Handler: "side_effect", DependsOn: []string{"validate"}, RetryLimit: 10},
		{Name: "reserve", Handler: "side_effect", DependsOn: []string{"validate"}, RetryLimit: 10},
		{Name: "create", Handler: "side_effect", DependsOn: []string{"charge", "reserve"}, RetryLimit: 10},
		{Name: "confirm", Handler: "side_effect", DependsOn: []string{"create"}, RetryLimit: 10},
	}})
}

func crashConfig(s store.Store) engine.Config {
	return engine.Config{Store: s, Execution: engine.ExecutionConfig{LeaseTTL: 2 * time.Second, RescueInterval: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond, MaxConcurrency: 16, BatchSize: 16}}
}

func startAll(ctx context.Context, e *engine.Engine) ([]*engine.TaskHandle, error) {
	hs := make([]*engine.TaskHandle, crashTasks)
	for i := range crashTasks {
		h, err := e.Start(ctx, "crash/order", map[string]int{"order": i}, engine.WithIdempotencyKey(fmt.Sprint(i)))
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	return hs, nil
}

// crashChild is the process that gets killed: it starts the workflows and
// works on them, printing a line per side effect, until SIGKILL.
func crashChild() {
	dbPath, ledgerPath, _ := strings.Cut(os.Getenv(crashChildEnv), "|")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, dbPath, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ledger, err := os.OpenFile(ledgerPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	e, _ := engine.New(crashConfig(s))
	var out sync.Mutex
	if err := crashWorkflow(e, ledger, func(key string) { out.Lock(); fmt.Println("done", key); out.Unlock() }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go e.Run(ctx)
	if _, err := startAll(ctx, e); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("started")
	select {} // until killed
}

func TestCrashRecoveryKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs a child process")
	}
	dir := t.TempDir()
	dbPath, ledgerPath := filepath.Join(dir, "crash.db"), filepath.Join(dir, "ledger.txt")
	killChildAfter(t, crashChildEnv+"="+dbPath+"|"+ledgerPath, 50+rand.IntN(crashTasks*5-200))

	// A second process (this one) opens the same file and finishes.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := sqlite.Open(ctx, dbPath, nil)
	must(t, err)
	defer s.Close()
	ledger, err := os.OpenFile(ledgerPath, os.O_APPEND|os.O_WRONLY, 0o644)
	must(t, err)
	defer ledger.Close()
	e, err := engine.New(crashConfig(s))
	must(t, err)
	must(t, crashWorkflow(e, ledger, func(string) {}))
	recoveryStart := time.Now()
	run(t, e)
	hs, err := startAll(ctx, e)
	must(t, err)
	for _, h := range hs {
		out, err := h.Wait(ctx)
		must(t, err)
		if out.State != store.TaskComplete {
			t.Fatalf("task %d ended %s", h.TaskID, out.State)
		}
	}
	t.Logf("recovery finished the remaining work in %s", time.Since(recoveryStart))

	// No step was recorded complete twice; every step's side effect
	// happened at least once (at-least-once execution).
	var dup []int64
	must(t, s.DB().NewRaw(`SELECT step_id FROM tasker_step_transitions WHERE to_state = 'complete'
		GROUP BY step_id HAVING count(*) > 1`).Scan(ctx, &dup))
	if len(dup) != 0 {
		t.Fatalf("steps recorded complete twice: %v", dup)
	}
	counts, err := s.CountByState(ctx)
	must(t, err)
	if counts.Tasks[store.TaskComplete] != crashTasks || counts.Steps[store.StepComplete] != crashTasks*5 {
		t.Fatalf("counts %+v", counts)
	}
	data, err := os.ReadFile(ledgerPath)
	must(t, err)
	effects := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		effects[l]++
	}
	again := 0
	for _, n := range effects {
		if n > 1 {
			again += n - 1
		}
	}
	if len(effects) != crashTasks*5 {
		t.Fatalf("ledger has %d distinct side effects, want %d", len(effects), crashTasks*5)
	}
	// Side effects run again only for attempts in flight at the kill (at
	// most 16) or whose lease expired (a late heartbeat on a loaded box).
	var rescues int
	must(t, s.DB().NewRaw(`SELECT count(*) FROM tasker_step_transitions WHERE metadata LIKE '%lease_expired%'`).Scan(ctx, &rescues))
	if again > 16+rescues {
		t.Fatalf("%d side effects ran again; only the 16 in flight at the kill and %d rescued attempts may", again, rescues)
	}
	t.Logf("%d side effects ran twice (in flight when killed)", again)
	var check []string
	must(t, s.DB().NewRaw("PRAGMA integrity_check").Scan(ctx, &check))
	if len(check) != 1 || check[0] != "ok" {
		t.Fatalf("integrity_check: %v", check)
	}
}

// killChildAfter runs this test binary as a child with env set, reads its
// output until it has reported n side effects ("done …" lines), kills it
// with SIGKILL, and returns those lines.
func killChildAfter(t *testing.T, env string, n int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	lines := bufio.NewScanner(stdout)
	var done []string
	for len(done) < n && lines.Scan() {
		if strings.HasPrefix(lines.Text(), "done ") {
			done = append(done, lines.Text())
		}
	}
	seen := len(done)
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	if seen < n {
		t.Fatalf("child exited early after %d side effects", seen)
	}
	t.Logf("child killed after %d side effects", seen)
	return done
}
