package engine_test

import (
	"context"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/chaos"
	"github.com/tasker-go/tasker/store"
)

// The chaos workload (internal/chaos), wrapped for tests.

func newLedger() *chaos.Ledger { return chaos.NewLedger() }

func chaosWork(t *testing.T, e *engine.Engine, l *chaos.Ledger) {
	t.Helper()
	must(t, chaos.Register(e, l))
}

func startChaos(t *testing.T, e *engine.Engine, dags, flows int, resend bool) []int64 {
	t.Helper()
	ids, err := chaos.Start(context.Background(), e, dags, flows, resend)
	must(t, err)
	return ids
}

func checkChaos(t *testing.T, st store.Store, l *chaos.Ledger, ids []int64) {
	t.Helper()
	f, err := chaos.Check(context.Background(), st, l, ids)
	must(t, err)
	for _, p := range f.Problems {
		t.Error(p)
	}
}
