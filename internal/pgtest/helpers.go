package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store/postgres"
)

// Open opens a store on the test server in schema with a pool of maxConns,
// closed when the test ends.
func Open(t testing.TB, schema string, maxConns int) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), URL(t), &postgres.Options{Schema: schema, MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// WaitFor checks cond every tick until it holds, failing the test after
// timeout: for conditions on rows other processes write.
func WaitFor(t testing.TB, what string, timeout, tick time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tk.C
	}
}
