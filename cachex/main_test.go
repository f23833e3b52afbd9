package cachex_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test closes what it opens: ristretto's and go-redis's goroutines
// must be gone when the package's tests end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
