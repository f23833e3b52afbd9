package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
)

// claimStatement keeps the last claim statement a store ran.
type claimStatement struct {
	mu    sync.Mutex
	query string
	args  []any
}

func (c *claimStatement) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (c *claimStatement) AfterQuery(_ context.Context, ev *bun.QueryEvent) {
	if strings.Contains(ev.Query, "claimed AS (UPDATE tasker_steps") {
		c.mu.Lock()
		c.query, c.args = ev.Query, ev.QueryArgs
		c.mu.Unlock()
	}
}

// A claim that is a transaction of its own commits without waiting for the
// WAL to reach the disk (a claim lost in a crash of the server leaves its
// steps pending); a claim made in a caller's transaction leaves that
// transaction's commit synchronous.
func TestClaimCommitsAsynchronously(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	claim := &claimStatement{}
	s := open(t, "", &postgres.Options{MaxConns: 4, QueryHooks: []bun.QueryHook{claim}})
	for _, key := range []string{"a", "b", "c"} {
		if _, err := s.CreateTask(ctx, newTask(key)); err != nil {
			t.Fatal(err)
		}
	}
	one := &store.ClaimStepsParams{Owner: "w", Limit: 1, LeaseTTL: time.Minute}
	if got, err := s.ClaimSteps(ctx, one); err != nil || len(got) != 1 {
		t.Fatalf("ClaimSteps = %d steps, %v; want 1", len(got), err)
	}
	claim.mu.Lock()
	query, args := claim.query, claim.args
	claim.mu.Unlock()
	if query == "" {
		t.Fatal("the claim statement was not seen by the query hook")
	}

	// The same statement in a transaction that shows its setting: it
	// claims the next step and turns the commit asynchronous.
	tx, err := s.DB().DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		t.Fatal(err)
	}
	claimed := 0
	for rows.Next() {
		claimed++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	var mode string
	if err := tx.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if claimed != 1 || mode != "off" {
		t.Fatalf("the claim statement claimed %d steps and left synchronous_commit %q; want 1 and off", claimed, mode)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	// In a caller's transaction, the claim leaves the commit as it was.
	btx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer btx.Rollback()
	if got, err := s.WithTx(btx).ClaimSteps(ctx, one); err != nil || len(got) != 1 {
		t.Fatalf("ClaimSteps in a transaction = %d steps, %v; want 1", len(got), err)
	}
	if err := btx.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "on" {
		t.Fatalf("a claim in the caller's transaction set synchronous_commit %q; want it left on", mode)
	}
}
