// Package proctest runs child processes that report over stdout, one line
// at a time: the multi-process tests (internal/multiproc,
// internal/schedproc) and the process scenarios of `tasker chaos` start
// workers with it, wait for the lines they print ("ready"), signal them
// (SIGKILL, SIGSTOP, SIGTERM) and reap them.
//
// It has no testing.T in its API: `tasker chaos` runs the same children
// outside tests. The lines a child wrote before it died are all delivered:
// a pipe keeps what was written to it.
package proctest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Child is a started process whose stdout is read line by line.
type Child struct {
	// Name names the child in errors.
	Name  string
	cmd   *exec.Cmd
	lines chan string

	wait    sync.Once
	waitErr error
}

// Start starts cmd (its Stderr defaults to this process's) and reads its
// stdout lines. The caller must end it with Kill, Stop or Wait.
func Start(name string, cmd *exec.Cmd) (*Child, error) {
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &Child{Name: name, cmd: cmd, lines: make(chan string, 4096)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c, nil
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Lines are the child's stdout lines, closed at its end (once the caller
// has read them all).
func (c *Child) Lines() <-chan string { return c.lines }

// ErrExited is returned by Expect when the child ended first.
var ErrExited = errors.New("the child exited")

// Expect waits for a line starting with prefix (skipping others) and
// returns it.
func (c *Child) Expect(prefix string, timeout time.Duration) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return "", fmt.Errorf("%s: waiting for %q: %w", c.Name, prefix, ErrExited)
			}
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-deadline.C:
			return "", fmt.Errorf("%s did not print %q within %s", c.Name, prefix, timeout)
		}
	}
}

// Signal sends sig to the child.
func (c *Child) Signal(sig syscall.Signal) error {
	if err := c.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: sending %s: %w", c.Name, sig, err)
	}
	return nil
}

// Wait waits for the child to exit (once; later calls return the same
// error). A child stopped by SIGSTOP is resumed first.
func (c *Child) Wait() error {
	c.wait.Do(func() { c.waitErr = c.cmd.Wait() })
	return c.waitErr
}

// Kill ends the child with SIGKILL and reaps it: nothing of it runs
// afterwards. Killing a child that already exited is not an error.
func (c *Child) Kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.Wait()
}

// Stop asks the child to end with SIGTERM and waits for it; the error
// says when it did not exit cleanly.
func (c *Child) Stop() error {
	if err := c.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := c.Wait(); err != nil {
		return fmt.Errorf("%s after SIGTERM: %w", c.Name, err)
	}
	return nil
}

// Drain returns the lines not yet read, once the child has exited.
func (c *Child) Drain() []string {
	var out []string
	for l := range c.lines {
		out = append(out, l)
	}
	return out
}
