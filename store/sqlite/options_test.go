package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store/sqlite"
)

// TestOpenRefusesMistakenOptions: Open accepted a BusyTimeout under a
// millisecond (BusyTimeout: 10 is 10 ns, busy_timeout(0): no wait at all
// for another process's lock), Synchronous with ReadOnly (where it does
// nothing) and a nil query hook (a panic at the first statement). Each is
// refused, naming the option, and no file is created.
func TestOpenRefusesMistakenOptions(t *testing.T) {
	for _, c := range []struct {
		opts sqlite.Options
		want string
	}{
		{sqlite.Options{BusyTimeout: 10}, "busy timeout 10ns is under a millisecond"},
		// Past SQLite's largest (2^31-1 ms, about 24.8 days) the pragma
		// read busy_timeout(0): no wait at all, the opposite of asked.
		{sqlite.Options{BusyTimeout: 1000 * time.Hour}, "sqlite options: busy timeout 1000h0m0s is over SQLite's largest, 596h31m23.647s"},
		{sqlite.Options{ReadOnly: true, Synchronous: "FULL"}, `synchronous "FULL" is set with read only`},
		{sqlite.Options{QueryHooks: []bun.QueryHook{nil}}, "query hook 0 is nil"},
	} {
		path := filepath.Join(t.TempDir(), "o.db")
		st, err := sqlite.Open(context.Background(), path, &c.opts)
		if err == nil {
			st.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%+v): %v, want an error saying %q", c.opts, err, c.want)
		}
		if _, serr := os.Stat(path); !os.IsNotExist(serr) {
			t.Errorf("Open(%+v) refused created the file (%v)", c.opts, serr)
		}
	}
	// Memory is one connection: a read pool size for it did nothing.
	if st, err := sqlite.Open(context.Background(), sqlite.Memory, &sqlite.Options{ReadConns: 8}); err == nil || !strings.Contains(err.Error(), "read conns 8 is set for Memory") {
		if err == nil {
			st.Close()
		}
		t.Errorf("Open(Memory, ReadConns 8): %v, want it refused", err)
	}
}

// TestOpenRefusesOptionsMemoryIgnores: Memory is one connection of this
// process on no disk, so BusyTimeout (no other connection holds its lock)
// and Synchronous (nothing is synced) did nothing there, silently. Each is
// refused, naming it.
func TestOpenRefusesOptionsMemoryIgnores(t *testing.T) {
	for _, c := range []struct {
		opts sqlite.Options
		want string
	}{
		{sqlite.Options{BusyTimeout: time.Second}, "busy timeout 1s is set for Memory"},
		{sqlite.Options{Synchronous: "FULL"}, `synchronous "FULL" is set for Memory`},
	} {
		st, err := sqlite.Open(context.Background(), sqlite.Memory, &c.opts)
		if err == nil {
			st.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(Memory, %+v): %v, want an error saying %q", c.opts, err, c.want)
		}
	}
}

// TestOpenNamesTheNegativeOption: a negative BusyTimeout or ReadConns was
// refused as "busy timeout and read conns must not be negative", naming
// neither the one at fault nor its value.
func TestOpenNamesTheNegativeOption(t *testing.T) {
	for _, c := range []struct {
		opts sqlite.Options
		want string
	}{
		{sqlite.Options{BusyTimeout: -time.Second}, "sqlite options: busy timeout must not be negative, got -1s"},
		{sqlite.Options{ReadConns: -2}, "sqlite options: read conns must not be negative, got -2"},
	} {
		path := filepath.Join(t.TempDir(), "o.db")
		st, err := sqlite.Open(context.Background(), path, &c.opts)
		if err == nil {
			st.Close()
		}
		if err == nil || err.Error() != c.want {
			t.Errorf("Open(%+v): %v, want %q", c.opts, err, c.want)
		}
	}
}

// The pollers of Wakeups and TaskDone each hold a connection of the read
// pool for as long as they run: with ReadConns 1 the claim loop's poller
// held the only one, and TaskDone and every read (a claim's inputs, a
// Wait's outcome) waited for ever; with 2, a Wait took the other. Their
// connections now come on top of ReadConns, so reads always have
// ReadConns of their own.
func TestPollersLeaveReadConnsToReads(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"), &sqlite.Options{ReadConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	done := make(chan error, 1)
	go func() {
		_ = st.Wakeups()
		_, stop := st.TaskDone()
		_, stop2 := st.TaskDone()
		defer stop2()
		if _, err := st.QueueLags(ctx, time.Now()); err != nil {
			done <- fmt.Errorf("a read with the pollers running: %w", err)
			return
		}
		// Stopped, a poller gives its connection back and the pool
		// narrows again: the next TaskDone still finds one.
		stop()
		_, stop3 := st.TaskDone()
		defer stop3()
		_, err := st.QueueLags(ctx, time.Now())
		done <- err
	}()
	// The timer only bounds the failure: without a connection the calls
	// wait for ever.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("TaskDone or a read is still waiting for a connection of the read pool after 30 s")
	}
}
