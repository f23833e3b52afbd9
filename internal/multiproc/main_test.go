package multiproc_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/proctest"
	"github.com/tasker-go/tasker/store/postgres"
)

const (
	roleEnv   = "TASKER_MULTIPROC_ROLE"   // worker | starter
	schemaEnv = "TASKER_MULTIPROC_SCHEMA" // the test's schema
	ledgerEnv = "TASKER_MULTIPROC_LEDGER" // file the handlers append to
	idEnv     = "TASKER_MULTIPROC_ID"     // worker id
)

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "worker":
		os.Exit(worker())
	case "starter":
		os.Exit(starter())
	}
	goleak.VerifyTestMain(m)
}

func workerConfig(s *postgres.Store, id string) engine.Config {
	return engine.Config{Store: s, WorkerID: id, Execution: engine.ExecutionConfig{
		LeaseTTL: 2 * time.Second, RescueInterval: 250 * time.Millisecond, PollInterval: 200 * time.Millisecond,
		MaxConcurrency: 32, BatchSize: 32,
	}}
}

// register installs the test workflow: prepare → (left ∥ right) → join,
// each step appending "<idempotency key> <worker>" to the ledger.
func register(e *engine.Engine, ledger io.Writer, id string) error {
	var mu sync.Mutex
	h := func(sc *engine.StepContext) (any, error) {
		mu.Lock()
		_, err := fmt.Fprintf(ledger, "%s %s\n", sc.IdempotencyKey, id)
		mu.Unlock()
		return sc.Step, err
	}
	if err := e.HandleFunc("effect", h); err != nil {
		return err
	}
	return e.Register(&engine.Template{Namespace: "mp", Name: "flow", Steps: []engine.StepTemplate{
		{Name: "prepare", Handler: "effect"},
		{Name: "left", Handler: "effect", DependsOn: []string{"prepare"}},
		{Name: "right", Handler: "effect", DependsOn: []string{"prepare"}},
		{Name: "join", Handler: "effect", DependsOn: []string{"left", "right"}},
	}})
}

func openChildStore() (*postgres.Store, error) {
	return postgres.Open(context.Background(), os.Getenv("TASKER_TEST_POSTGRES_URL"), &postgres.Options{Schema: os.Getenv(schemaEnv), MaxConns: 4})
}

// worker runs workflows until SIGTERM (graceful) or SIGKILL, printing
// "ready" once running and its discard count when it stops.
func worker() int {
	s, err := openChildStore()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer s.Close()
	ledger, err := os.OpenFile(os.Getenv(ledgerEnv), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	id := os.Getenv(idEnv)
	e, err := engine.New(workerConfig(s, id))
	if err == nil {
		err = register(e, ledger, id)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signalContext()
	defer stop()
	done := make(chan error, 1)
	go func() { done <- e.Run(context.Background()) }()
	fmt.Println("ready")
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = e.Stop(stopCtx)
	<-done
	fmt.Printf("discarded %d\n", e.Stats().ResultsDiscarded)
	return 0
}

// starter starts the same workflow with the same key from many goroutines
// and prints each task id it got.
func starter() int {
	s, err := openChildStore()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer s.Close()
	e, _ := engine.New(workerConfig(s, os.Getenv(idEnv)))
	if err := register(e, io.Discard, ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 17 {
		wg.Go(func() {
			h, err := e.Start(context.Background(), "mp/flow", map[string]string{"order": "same"}, engine.WithIdempotencyKey("order-1"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fmt.Println("error", err)
				return
			}
			fmt.Println("task", h.TaskID)
		})
	}
	wg.Wait()
	return 0
}

// child is a running worker or starter process.
type child struct {
	*proctest.Child
	cmd *exec.Cmd
}

func spawn(t *testing.T, role, schema, ledger, id string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+role, schemaEnv+"="+schema, ledgerEnv+"="+ledger, idEnv+"="+id)
	c, err := proctest.Start(role+" "+id, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	return &child{Child: c, cmd: cmd}
}

// expect waits for a line with the prefix and returns it.
func (c *child) expect(t *testing.T, prefix string) string {
	t.Helper()
	l, err := c.Expect(prefix, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
