package schedproc_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/proctest"
	"github.com/tasker-go/tasker/store/postgres"
)

const (
	roleEnv   = "TASKER_SCHEDPROC_ROLE"   // worker
	schemaEnv = "TASKER_SCHEDPROC_SCHEMA" // the test's schema
	idEnv     = "TASKER_SCHEDPROC_ID"     // worker id
)

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "worker" {
		os.Exit(worker())
	}
	goleak.VerifyTestMain(m)
}

func config(s *postgres.Store, id string) engine.Config {
	return engine.Config{Store: s, WorkerID: id, Execution: engine.ExecutionConfig{
		LeaseTTL: 2 * time.Second, RescueInterval: 250 * time.Millisecond, PollInterval: 200 * time.Millisecond,
		ScheduleInterval: 500 * time.Millisecond,
	}}
}

// register installs the scheduled workflow: it returns its input.
func register(e *engine.Engine) error {
	return engine.RegisterWorkflow(e, "sp/tick", func(wctx *engine.WorkflowContext, in string) (string, error) { return in, nil })
}

// worker runs the engine until SIGTERM (graceful) or SIGKILL, printing
// "ready" once running.
func worker() int {
	s, err := postgres.Open(context.Background(), os.Getenv("TASKER_TEST_POSTGRES_URL"), &postgres.Options{Schema: os.Getenv(schemaEnv), MaxConns: 4})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer s.Close()
	e, err := engine.New(config(s, os.Getenv(idEnv)))
	if err == nil {
		err = register(e)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done, err := e.RunBackground(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("ready")
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = e.Stop(stopCtx)
	<-done
	return 0
}

// child is a running worker process.
type child struct {
	*proctest.Child
	id string
}

func spawn(t *testing.T, schema, id string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"=worker", schemaEnv+"="+schema, idEnv+"="+id)
	c, err := proctest.Start("worker "+id, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	return &child{Child: c, id: id}
}

// expect waits for a line with the prefix.
func (c *child) expect(t *testing.T, prefix string) {
	t.Helper()
	if _, err := c.Expect(prefix, 60*time.Second); err != nil {
		t.Fatal(err)
	}
}

// kill sends SIGKILL and reaps the process.
func (c *child) kill(t *testing.T) {
	t.Helper()
	c.Kill()
}

// stop sends SIGTERM and waits for a graceful exit.
func (c *child) stop(t *testing.T) {
	t.Helper()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
}
