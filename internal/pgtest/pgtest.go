// Package pgtest gives tests a PostgreSQL server and a schema of their own.
//
// Tests read the server's URL from TASKER_TEST_POSTGRES_URL (source
// scripts/postgres.sh to start the test server and set it). Without it they
// skip, except in CI (CI non-empty), where a missing server is a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvURL names the environment variable holding the test server's URL.
const EnvURL = "TASKER_TEST_POSTGRES_URL"

// URL returns the test server's URL, or skips the test when it is not set
// (fails it in CI).
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url != "" {
		return url
	}
	if os.Getenv("CI") != "" {
		t.Fatal("TASKER_TEST_POSTGRES_URL is not set: CI must run ./scripts/test.sh")
	}
	t.Skip("set TASKER_TEST_POSTGRES_URL (source scripts/postgres.sh) to run the Postgres tests")
	return ""
}

// NewSchema returns a fresh, random schema name for this test (it is not
// created: postgres.Open creates it) and drops it with everything in it
// when the test and its cleanups registered later are done. Stores opened
// on it after this call close before it is dropped.
func NewSchema(t testing.TB) string {
	t.Helper()
	url := URL(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "tasker_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		// A process of the test still running a statement on the schema
		// (a worker being stopped) can deadlock with the drop, which
		// Postgres then aborts: the other side goes on, and the drop is
		// made again.
		for attempt := 1; ; attempt++ {
			_, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			var pe *pgconn.PgError
			if err != nil && errors.As(err, &pe) && pe.Code == "40P01" && attempt < 5 {
				continue
			}
			if err != nil {
				t.Errorf("dropping schema %s: %v", schema, err)
			}
			return
		}
	})
	return schema
}

// Exec runs one statement on a short-lived connection of its own (outside
// any store's pool), e.g. to terminate a backend.
func Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, URL(t))
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
