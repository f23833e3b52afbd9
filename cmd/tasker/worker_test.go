package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// stuckWorkflow's one step never returns and ignores its context: the
// handler every drain must give up on.
const stuckWorkflow = "test/stuck"

// stuckStarted is what the stuck handler prints when it starts.
const stuckStarted = "stuck handler started"

func registerStuck(e *engine.Engine) error {
	if err := e.HandleFunc("test.stuck", func(sc *engine.StepContext) (any, error) {
		fmt.Println(stuckStarted)
		time.Sleep(time.Hour) // not <-ctx.Done(): it ignores cancellation
		return nil, nil
	}); err != nil {
		return err
	}
	return e.Register(&engine.Template{Namespace: "test", Name: "stuck", Version: "1",
		Steps: []engine.StepTemplate{{Name: "hang", Handler: "test.stuck"}}})
}

// workerProc is `tasker worker` in a process of its own (this test binary).
type workerProc struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line; closed at EOF
	stderr bytes.Buffer
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// startStuckWorker starts a task of stuckWorkflow in a fresh database and a
// worker process on it, and waits until the stuck handler runs.
func startStuckWorker(t *testing.T, drain string) *workerProc {
	t.Helper()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "worker.db")
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Store: st})
	if err == nil {
		err = registerStuck(e)
	}
	if err == nil {
		_, err = e.Start(ctx, stuckWorkflow, map[string]int{"n": 1})
	}
	if err := errors.Join(err, st.Close()); err != nil {
		t.Fatal(err)
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	w := &workerProc{lines: make(chan string, 100), exited: make(chan struct{})}
	w.cmd = exec.Command(exe, "worker", "--db", db, "--poll", "20ms", "--drain", drain)
	w.cmd.Env = append(os.Environ(), roleEnv+"=worker")
	w.cmd.Stderr = &w.stderr
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
		w.err = w.cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-w.exited:
		default:
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
	})
	w.await(t, stuckStarted)
	return w
}

// await reads stdout until a line starting with prefix.
func (w *workerProc) await(t *testing.T, prefix string) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case line, ok := <-w.lines:
			if !ok {
				<-w.exited
				t.Fatalf("the worker exited (%v) before printing %q: %s", w.err, prefix, w.stderr.String())
			}
			if strings.HasPrefix(line, prefix) {
				return
			}
		case <-timeout:
			t.Fatalf("the worker printed no %q within a minute: %s", prefix, w.stderr.String())
		}
	}
}

// wait waits for the worker to exit, at most within, and returns its exit
// status and how long it took.
func (w *workerProc) wait(t *testing.T, within time.Duration) (int, time.Duration) {
	t.Helper()
	began := time.Now()
	go func() {
		for range w.lines { // drain, so the process never blocks writing
		}
	}()
	select {
	case <-w.exited:
	case <-time.After(within):
		t.Fatalf("the worker did not exit within %s: %s", within, w.stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(w.err, &ee) {
		return ee.ExitCode(), time.Since(began)
	}
	if w.err != nil {
		t.Fatal(w.err)
	}
	return 0, time.Since(began)
}

// The second SIGTERM ends a worker whose drain would otherwise wait a
// minute for a handler that never returns.
func TestWorkerSecondSignalExitsAtOnce(t *testing.T) {
	w := startStuckWorker(t, "1m")
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	w.await(t, "stopping: waiting up to 1m0s for running steps (SIGINT or SIGTERM again exits at once)")
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, took := w.wait(t, 10*time.Second)
	if code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit status %d, want %d: %s", code, 128+int(syscall.SIGTERM), w.stderr.String())
	}
	if !strings.Contains(w.stderr.String(), "tasker: second terminated: exiting at once") {
		t.Fatalf("stderr: %s", w.stderr.String())
	}
	t.Logf("exited %s after the second SIGTERM", took)
}

// One SIGTERM and a short --drain: the worker exits by itself within the
// drain (the engine's Stop returns by its deadline), stuck handler or not.
func TestWorkerDrainIsBounded(t *testing.T) {
	w := startStuckWorker(t, "300ms")
	if err := w.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	w.await(t, "stopping: waiting up to 300ms for running steps")
	code, took := w.wait(t, 300*time.Millisecond+5*time.Second)
	if code != 1 {
		t.Fatalf("exit status %d, want 1 (steps were still running): %s", code, w.stderr.String())
	}
	if took > 300*time.Millisecond+2*time.Second {
		t.Fatalf("exited %s after SIGINT with a 300ms drain", took)
	}
	t.Logf("exited %s after SIGINT: %s", took, w.stderr.String())
}

// A bad --concurrency or --poll, or one the configuration contradicts, is
// refused naming the flag before the database is opened: the engine
// refused it, without naming the flag, after the worker had created and
// migrated the database.
func TestWorkerRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "never.db")
	conf := filepath.Join(dir, "tasker.yaml")
	if err := os.WriteFile(conf, []byte("execution:\n  min_concurrency: 40\n  max_concurrency: 64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustFail(t, "--concurrency must not be negative, got -1", "worker", "--concurrency", "-1", "--db", db)
	mustFail(t, "--poll must be 0 (the engine's default) or at least 1ms, got 1ns", "worker", "--poll", "1ns", "--db", db)
	mustFail(t, "--poll must be 0 (the engine's default) or at least 1ms, got -2s", "worker", "--poll", "-2s", "--db", db)
	mustFail(t, "--concurrency 8 is below execution.min_concurrency 40 ("+conf+":2)", "worker", "--concurrency", "8", "--config", conf, "--db", db)
	mustFail(t, "--concurrency 0 (the engine's default, 32) is below execution.min_concurrency 40 ("+conf+":2)", "worker", "--concurrency", "0", "--config", conf, "--db", db)
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused worker created %s (%v)", db, err)
	}
}

// demo's --concurrency the engine refuses (above its limit) is refused
// naming the flag before the database is opened: demo created and
// migrated the file, then failed with the engine's "config: execution max
// concurrency … is above …", naming no flag.
func TestDemoRefusesConcurrencyBeforeOpening(t *testing.T) {
	db := filepath.Join(t.TempDir(), "never.db")
	mustFail(t, "--concurrency 2000000: config: execution max concurrency 2000000 is above 1048576", "demo", "--concurrency", "2000000", "--db", db)
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused demo created %s (%v)", db, err)
	}
}

// A --concurrency below the configuration's min_concurrency names where
// that was set, as an error about two of its keys does: the file's line,
// or the variable that replaced it. It said "the configuration's", and,
// for --concurrency 0, "the configuration with --concurrency and --poll:
// config: execution min concurrency 40 exceeds max 32", naming neither.
func TestWorkerConcurrencyRefusalNamesWhereMinWasSet(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "never.db")
	conf := filepath.Join(dir, "tasker.yaml")
	if err := os.WriteFile(conf, []byte("execution:\n  min_concurrency: 4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TASKER_EXECUTION_MIN_CONCURRENCY", "40")
	t.Setenv("TASKER_EXECUTION_MAX_CONCURRENCY", "64")
	mustFail(t, "--concurrency 8 is below execution.min_concurrency 40 (TASKER_EXECUTION_MIN_CONCURRENCY)", "worker", "--concurrency", "8", "--config", conf, "--db", db)
	mustFail(t, "--concurrency 0 (the engine's default, 32) is below execution.min_concurrency 40 (TASKER_EXECUTION_MIN_CONCURRENCY)", "worker", "--concurrency", "0", "--db", db)
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused worker created %s (%v)", db, err)
	}
}

// The flags override the configuration, so a min_concurrency above the
// default max is no error when --concurrency gives a max above it: it was
// refused before the flag applied ("min concurrency 40 exceeds max 32").
// (--poll 1ns makes the worker stop at the flags' check, after the
// configuration was accepted.)
func TestWorkerConcurrencyOverridesTheConfiguration(t *testing.T) {
	db := filepath.Join(t.TempDir(), "never.db")
	t.Setenv("TASKER_EXECUTION_MIN_CONCURRENCY", "40")
	mustFail(t, "--poll must be 0 (the engine's default) or at least 1ms, got 1ns", "worker", "--concurrency", "64", "--poll", "1ns", "--db", db)
}
