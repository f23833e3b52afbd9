package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

const poisonChildEnv = "TASKER_POISON_CHILD"

// poisonExit is the exit code of a process killed by the poison step.
const poisonExit = 3

func poisonWork(e *engine.Engine) error {
	if err := e.HandleFunc("poison", func(*engine.StepContext) (any, error) {
		os.Exit(poisonExit) // a crash no recover can catch
		return nil, nil
	}); err != nil {
		return err
	}
	if err := e.HandleFunc("fine", func(sc *engine.StepContext) (any, error) { return sc.Step, nil }); err != nil {
		return err
	}
	if err := e.Register(&engine.Template{Namespace: "poison", Name: "bad", Steps: []engine.StepTemplate{{Name: "crash", Handler: "poison", RetryLimit: 3}}}); err != nil {
		return err
	}
	// Every step in flight in a process the poison step kills loses that
	// attempt too (attempts count at claim, and nothing tells which step
	// killed the process): the good steps get a budget above the poison
	// step's, or the poison takes them down with it.
	return e.Register(&engine.Template{Namespace: "poison", Name: "good", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "fine", RetryLimit: 6}, {Name: "b", Handler: "fine", DependsOn: []string{"a"}, RetryLimit: 6}}})
}

func poisonConfig(s store.Store) engine.Config {
	return engine.Config{Store: s, Execution: engine.ExecutionConfig{LeaseTTL: 500 * time.Millisecond, RescueInterval: 50 * time.Millisecond, PollInterval: 20 * time.Millisecond}}
}

// poisonChild works on the database until the poison step kills it.
func poisonChild() {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, os.Getenv(poisonChildEnv), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	e, err := engine.New(poisonConfig(s))
	if err == nil {
		err = poisonWork(e)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	_ = e.Run(ctx) // until the poison step exits the process, or the parent kills it
}

// A step that crashes its process on every attempt: each worker process
// that takes it dies, but its attempts are counted at claim, so after its
// limit the rescue fails it (task in error) instead of it killing workers
// forever; the other workflows finish.
func TestPoisonStepEndsInError(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "poison.db")
	s, err := sqlite.Open(ctx, path, nil)
	must(t, err)
	defer s.Close()
	e, err := engine.New(poisonConfig(s)) // starts tasks and watches; runs steps only at the end
	must(t, err)
	must(t, poisonWork(e))
	bad, err := e.Start(ctx, "poison/bad", nil)
	must(t, err)
	var good []*engine.TaskHandle
	for i := range 10 {
		h, err := e.Start(ctx, "poison/good", map[string]int{"n": i})
		must(t, err)
		good = append(good, h)
	}
	crashes := 0
	for spawn := 0; ; spawn++ {
		if spawn == 8 {
			t.Fatalf("%d worker processes died and the poison task is still not in error", crashes)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), poisonChildEnv+"="+path)
		cmd.Stderr = os.Stderr
		must(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Until the child dies of the poison, or the poison task fails.
		var waitErr error
		watching := true
		for watching {
			select {
			case waitErr = <-exited:
				watching = false
			case <-ctx.Done():
				_ = cmd.Process.Kill()
				<-exited
				t.Fatal("timed out")
			case <-time.After(20 * time.Millisecond):
				d, err := s.GetTask(ctx, bad.TaskID)
				must(t, err)
				if d.Task.State == store.TaskError {
					_ = cmd.Process.Kill()
					waitErr = <-exited
					watching = false
				}
			}
		}
		var exit *exec.ExitError
		if errors.As(waitErr, &exit) && exit.ExitCode() == poisonExit {
			crashes++
			continue
		}
		break // killed by us: the poison task has failed
	}
	d, err := s.GetTask(ctx, bad.TaskID)
	must(t, err)
	if d.Task.State != store.TaskError || d.Steps[0].Attempts != 3 || crashes != 3 {
		t.Fatalf("poison task %s after %d attempts and %d crashed workers; want error after 3 of each", d.Task.State, d.Steps[0].Attempts, crashes)
	}
	// The workers that died also ran the good workflows; whatever they
	// left unfinished, a healthy worker finishes now.
	done, err := e.RunBackground(ctx)
	must(t, err)
	defer func() { must(t, e.Stop(ctx)); <-done }()
	for _, h := range good {
		out, err := e.Wait(ctx, h.TaskID)
		must(t, err)
		if out.State != store.TaskComplete {
			t.Fatalf("good task %d ended %s", h.TaskID, out.State)
		}
	}
}
