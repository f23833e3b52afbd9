package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// A program that runs an engine, waits for a task, stops the engine and
// closes its store leaves only its database file: the watcher of commits
// that lingers after the last Wait held a read connection past Stop, and
// the file's -wal and -shm stayed behind.
func TestStopThenCloseLeavesNoWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	s, err := sqlite.Open(ctx, path, nil)
	must(t, err)
	e, err := engine.New(engine.Config{Store: s})
	must(t, err)
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "one", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	done, err := e.RunBackground(ctx)
	must(t, err)
	h, err := e.Start(ctx, "t/one", nil)
	must(t, err)
	if _, err := h.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, e.Stop(ctx))
	<-done
	must(t, s.Close())
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			t.Errorf("%s is still there after Stop and Close", filepath.Base(path+suffix))
		}
	}
}
