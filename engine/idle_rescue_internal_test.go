package engine

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// failingRescue refuses every RescueExpired, as a database that keeps
// failing would.
type failingRescue struct{ store.Store }

func (failingRescue) RescueExpired(context.Context, *store.RescueExpiredParams) (*store.RescueResult, error) {
	return nil, errors.New("injected: the database refused the rescue")
}

// The claim loop's rescue (when it is idle and a lease's expiry fell due)
// logs its failure: it was dropped, and expired leases stayed unrescued
// with nothing said.
func TestIdleRescueLogsItsFailure(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	core, logs := observer.New(zap.WarnLevel)
	e, err := New(Config{Store: failingRescue{s}, WorkerID: "w", Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if n := e.idleRescue(ctx); n != 0 {
		t.Fatalf("a failed rescue moved %d", n)
	}
	got := logs.FilterMessageSnippet("rescuing expired leases failed").All()
	if len(got) != 1 || got[0].ContextMap()["error"] == nil {
		t.Fatalf("warnings %v, want one for the failed rescue, with its error", logs.All())
	}
}
