//go:build linux

package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// A store on a file another store shares signals it when it creates a task
// (for workers) and when a task finishes (AnnounceDone, for waiters), and
// the other's pollers look at once: here their poll is an hour, so only the
// signal can wake them (two stores of one process stand for two
// processes: each watches the file on its own).
func TestSignalsWakeOtherStores(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	a := open(t, path)
	sqlite.SetPoll(a, time.Hour)
	b := open(t, path)

	work := a.Wakeups() // each takes its first reading before it returns
	done, stop := a.TaskDone()
	defer stop()
	// Each poller looks again when its loop begins, then listens for
	// signals: a commit before that look wakes it whatever the signal, as
	// it must (the commit came after the call), and a signal before it
	// listens is seen by its poll only. Wait for those looks, so that from
	// here on a signal of each poller's kind, and only one, wakes it.
	for deadline := time.Now().Add(time.Minute); sqlite.Looks(a, true) == 0 || sqlite.Looks(a, false) == 0; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the pollers took no look in their loops within a minute")
		}
	}
	expect := func(what string, ch <-chan struct{}, act func()) {
		t.Helper()
		act()
		select {
		case <-ch:
		case <-time.After(time.Minute):
			t.Fatalf("%s: no signal reached the other store within a minute (its poll is an hour)", what)
		}
	}
	params := func(key string) *store.CreateTaskParams {
		return &store.CreateTaskParams{Namespace: "ns", Name: "wf", Version: "1", Kind: store.KindDAG, IdentityKey: key,
			Steps: []store.NewStep{{Name: "s", Handler: "h"}}}
	}
	expect("a start in b, for a's workers", work, func() {
		if _, err := b.CreateTask(ctx, params("first")); err != nil {
			t.Fatal(err)
		}
	})
	select {
	case <-done:
		t.Fatal("a start in b woke a's waiters: a start signals workers only")
	default:
	}
	expect("a task finished in b, for a's waiters", done, b.AnnounceDone)
	expect("a group of starts in b (the engine's), for a's workers", work, func() {
		items, err := b.CreateTasks(ctx, []*store.CreateTaskParams{params("second"), params("third")})
		if err == nil {
			err = errors.Join(items[0].Err, items[1].Err)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	// A commit that signals nothing wakes no one; AnnounceDone after it does.
	if _, err := b.DB().ExecContext(ctx, "UPDATE tasker_tasks SET priority = priority + 1"); err != nil {
		t.Fatal(err)
	}
	expect("another task finished in b", done, b.AnnounceDone)
}
