//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlite_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tasker-go/tasker/internal/proctest"
	"github.com/tasker-go/tasker/store/sqlite"
)

// A store is alone on its file while no other store of this process and
// no other process has the file open; only then do its pollers look for
// other processes' commits less often.
func TestPresence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	a := open(t, path)
	if !sqlite.Alone(a) {
		t.Fatal("a store alone on its file does not say so")
	}
	b, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sqlite.Alone(a) || sqlite.Alone(b) {
		t.Fatal("two stores of one process on one file: one says it is alone")
	}
	b.Close()
	b.Close() // twice: the second gives back nothing
	if !sqlite.Alone(a) {
		t.Fatal("the other store of this process closed: a does not say it is alone")
	}
	c, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sqlite.Alone(a) {
		t.Fatal("a third store opened after b closed twice: a says it is alone")
	}
	c.Close()
	if mem := open(t, sqlite.Memory); sqlite.Alone(mem) {
		t.Fatal("an in-memory store says it is alone (it has no pollers to slow)")
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TASKER_TEST_PRESENCE_CHILD="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	child, err := proctest.Start("presence child", cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer child.Kill()
	if _, err := child.Expect("ready", time.Minute); err != nil {
		t.Fatal(err)
	}
	if sqlite.Alone(a) {
		t.Fatal("another process has the file open: a says it is alone")
	}
	_ = stdin.Close()
	if err := child.Wait(); err != nil {
		t.Fatalf("the other process: %v", err)
	}
	if !sqlite.Alone(a) {
		t.Fatal("the other process closed the file: a does not say it is alone")
	}
}
