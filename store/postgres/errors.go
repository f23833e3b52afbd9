package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tasker-go/tasker/store"
)

// mapError turns PostgreSQL and connection errors into store sentinels,
// keeping the original in the chain.
func mapError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case pe.Code == "23503": // foreign_key_violation: the referenced row is gone
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case retryableCode(pe.Code):
			return fmt.Errorf("%w: %w", store.ErrRetryable, err)
		}
		return err
	}
	if lostConnection(err) {
		return fmt.Errorf("%w: %w", store.ErrRetryable, err)
	}
	return err
}

// retryableCode reports SQLSTATEs after which the whole operation may be
// tried again: serialization failures, deadlocks, lock timeouts, a server
// shutting down or restarting, too many connections, connection exceptions.
func retryableCode(code string) bool {
	switch code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03", // lock_not_available
		"57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now
		"53300": // too_many_connections
		return true
	}
	return strings.HasPrefix(code, "08") // connection_exception class
}

// lostConnection reports errors of the connection rather than the
// statement: the server went away or could not be reached.
func lostConnection(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err)
}
