package storetest

import (
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testStartLeaseClock: with Now zero (the database's clock), the lease
// expiry a start's Lease returns with its claimed steps is the one the
// database wrote, to the microsecond — the engine measures the store's
// clock against its own by it, as it does by a claim's. A value computed
// by the process would carry the process's clock (and its precision).
func testStartLeaseClock(t *testing.T, b *bundle) {
	var ps []*store.CreateTaskParams
	for range 2 { // a group of starts, as StartMany makes (one statement on Postgres)
		p := b.params([]store.NewStep{{Name: "a", Handler: "h.a", Retryable: true}})
		p.Now = time.Time{}
		p.Lease = &store.StartLease{Owner: "eager-1", TTL: time.Minute, Limit: 1, Handlers: []string{"h.a"}}
		ps = append(ps, p)
	}
	items, err := b.s.CreateTasks(b.ctx, ps)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if it.Err != nil || len(it.Claimed) != 1 {
			t.Fatalf("item %d: %v, %d claimed", i, it.Err, len(it.Claimed))
		}
		got := it.Claimed[0].Step.LeaseExpiresAt
		d := b.get(t, it.Task.ID)
		stored := d.Steps[0].LeaseExpiresAt
		if got == nil || stored == nil || !got.Equal(*stored) {
			t.Fatalf("item %d: the start returned the lease expiry %v, the database holds %v", i, got, stored)
		}
	}
}
