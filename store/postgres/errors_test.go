package postgres_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
)

func TestMapError(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code, Message: "m"}) }
	cases := []struct {
		name string
		err  error
		want error // nil: passes unchanged
	}{
		{"unique violation", pg("23505"), store.ErrConflict},
		{"foreign key violation", pg("23503"), store.ErrNotFound},
		{"serialization failure", pg("40001"), store.ErrRetryable},
		{"deadlock", pg("40P01"), store.ErrRetryable},
		{"admin shutdown", pg("57P01"), store.ErrRetryable},
		{"cannot connect now", pg("57P03"), store.ErrRetryable},
		{"connection failure", pg("08006"), store.ErrRetryable},
		{"too many connections", pg("53300"), store.ErrRetryable},
		{"syntax error", pg("42601"), nil},
		{"check violation", pg("23514"), nil},
		{"lost connection", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), store.ErrRetryable},
		{"bad conn", driver.ErrBadConn, store.ErrRetryable},
		{"cancelled", context.Canceled, nil},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), nil},
		{"other", errors.New("boom"), nil},
	}
	for _, c := range cases {
		got := postgres.MapError(c.err)
		if !errors.Is(got, c.err) {
			t.Errorf("%s: mapped error %v lost the original", c.name, got)
		}
		for _, s := range []error{store.ErrConflict, store.ErrNotFound, store.ErrRetryable} {
			if errors.Is(got, s) != (s == c.want) {
				t.Errorf("%s: errors.Is(%v, %v) = %v", c.name, got, s, !(s == c.want))
			}
		}
	}
	if postgres.MapError(nil) != nil {
		t.Error("nil maps to non-nil")
	}
}

// TestUniqueViolationIsConflict goes through the database: a duplicate
// key from a real statement comes back as ErrConflict.
func TestUniqueViolationIsConflict(t *testing.T) {
	t.Parallel()
	s := open(t, "", nil)
	ctx := context.Background()
	ins := "INSERT INTO tasker_leaders (name, owner, expires_at) VALUES ('x', 'y', now())"
	if _, err := s.DB().ExecContext(ctx, ins); err != nil {
		t.Fatal(err)
	}
	_, err := s.DB().ExecContext(ctx, ins)
	if !errors.Is(postgres.MapError(err), store.ErrConflict) {
		t.Fatalf("duplicate insert: %v", err)
	}
}
