package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
)

// Rescue returns every expired lease to pending, however many: a worker
// fleet that died with more than one store batch (1,000) of steps in hand
// left the rest to the next maintenance pass, and Rescue reported 1,000.
func TestRescueTakesEveryExpiredLease(t *testing.T) {
	ctx := context.Background()
	const n = 1203
	fake := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openSQLite(t)
	e := newEngine(t, engine.Config{Store: s, Clock: fake})
	for done := 0; done < n; {
		batch := min(500, n-done)
		ps := make([]*store.CreateTaskParams, batch)
		for i := range ps {
			ps[i] = &store.CreateTaskParams{Namespace: "t", Name: "w", Kind: store.KindDAG, IdentityKey: fmt.Sprintf("k-%d", done+i),
				Context: store.JSON(`{}`), Steps: []store.NewStep{{Name: "s", Handler: "h", Retryable: true, RetryLimit: 3}}, Now: fake.Now()}
		}
		_, err := s.CreateTasks(ctx, ps)
		must(t, err)
		done += batch
	}
	claimed, err := s.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "dead", Limit: n, LeaseTTL: time.Minute, Now: fake.Now()})
	must(t, err)
	if len(claimed) != n {
		t.Fatalf("claimed %d, want %d", len(claimed), n)
	}
	fake.Advance(2 * time.Minute)
	got, err := e.Rescue(ctx)
	must(t, err)
	if got != n {
		t.Fatalf("Rescue moved %d steps, want all %d", got, n)
	}
	var left int
	must(t, s.DB().NewRaw("SELECT COUNT(*) FROM tasker_steps WHERE state = 'in_progress'").Scan(ctx, &left))
	if left != 0 {
		t.Fatalf("%d steps still in_progress under expired leases after Rescue", left)
	}
}
