package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/storetest"
)

func openBench(b *testing.B, dsnSuffix string) *postgres.Store {
	b.Helper()
	s, err := postgres.Open(context.Background(), pgtest.URL(b)+dsnSuffix, &postgres.Options{Schema: pgtest.NewSchema(b), MaxConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// execModes compares pgx's query modes: bun inlines every value, so the
// default (prepare and cache each statement) meets a new statement every
// time. The store's own default is exec.
// (simple_protocol measured the same as exec.)
var execModes = []string{"exec", "cache_statement"}

// BenchmarkRawInsertCommit is the ceiling: one single-row INSERT per
// transaction, synchronous_commit on (the server's setting).
func BenchmarkRawInsertCommit(b *testing.B) {
	for _, mode := range execModes {
		b.Run("mode="+mode, func(b *testing.B) {
			storetest.RawInsertCommit(b, openBench(b, "&default_query_exec_mode="+mode).DB())
		})
	}
}

// BenchmarkClaimComplete measures claim + complete cycles in batches of 1
// and 100, in each query mode.
func BenchmarkClaimComplete(b *testing.B) {
	for _, mode := range execModes {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("mode=%s/batch=%d", mode, batch), func(b *testing.B) {
				storetest.ClaimComplete(b, openBench(b, "&default_query_exec_mode="+mode), batch)
			})
		}
	}
}
