package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/store/storetest"
)

func openBench(b *testing.B) *sqlite.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkRawInsertCommit is the ceiling: one single-row INSERT per
// transaction on the same kind of file (WAL, synchronous=NORMAL).
func BenchmarkRawInsertCommit(b *testing.B) {
	storetest.RawInsertCommit(b, openBench(b).DB())
}

// BenchmarkClaimComplete measures claim + complete cycles in batches of 1
// and 100.
func BenchmarkClaimComplete(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { storetest.ClaimComplete(b, openBench(b), batch) })
	}
}
