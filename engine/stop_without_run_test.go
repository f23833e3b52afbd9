package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// Stop with no Run active releases what the engine holds, as its doc and
// Close's say, the watcher of commits lingering after the last Wait too:
// a program that waited for a task without running the engine, then stopped it and closes
// its store left the database's -wal and -shm behind.
func TestStopWithoutRunThenCloseLeavesNoWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	s, err := sqlite.Open(ctx, path, nil)
	must(t, err)
	e, err := engine.New(engine.Config{Store: s})
	must(t, err)
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "one", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	h, err := e.Start(ctx, "t/one", nil)
	must(t, err)
	// A Wait that gives up (the task is not run) leaves the watcher
	// lingering.
	wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := h.Wait(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v, want the deadline's error", err)
	}
	must(t, e.Stop(ctx))
	must(t, s.Close())
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			t.Errorf("%s is still there after Stop and Close", filepath.Base(path+suffix))
		}
	}
}
