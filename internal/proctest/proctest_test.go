package proctest_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/internal/proctest"
)

func TestMain(m *testing.M) {
	if os.Getenv("PROCTEST_CHILD") != "" {
		fmt.Println("noise")
		fmt.Println("ready 1")
		fmt.Println("last")
		if os.Getenv("PROCTEST_CHILD") == "hang" {
			select {}
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func child(t *testing.T, mode string) *proctest.Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCTEST_CHILD="+mode)
	c, err := proctest.Start("child-"+mode, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	return c
}

// Expect skips lines to the one wanted; the lines written before the
// child exited are all read, and then Expect says it exited.
func TestExpectAndDrain(t *testing.T) {
	c := child(t, "exit")
	l, err := c.Expect("ready", time.Minute)
	if err != nil || l != "ready 1" {
		t.Fatalf("got %q, %v", l, err)
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	if rest := c.Drain(); len(rest) != 1 || rest[0] != "last" {
		t.Fatalf("drained %q", rest)
	}
	if _, err := c.Expect("x", time.Minute); !errors.Is(err, proctest.ErrExited) {
		t.Fatalf("after the end: %v", err)
	}
}

// A killed child is reaped; its exit status says it was killed.
func TestKill(t *testing.T) {
	c := child(t, "hang")
	if _, err := c.Expect("last", time.Minute); err != nil {
		t.Fatal(err)
	}
	c.Kill()
	var ee *exec.ExitError
	if err := c.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("wait after kill: %v", err)
	}
}
