// Package writabletest runs a test's code with an ordinary user's
// permissions, for the tests of writable's callers (an SQLite file the
// process may not write).
package writabletest

import (
	"os"
	"syscall"
	"testing"
)

// AsNobody runs fn with the permissions of an ordinary user: as root (who
// may write any file) it switches the process's user ids to nobody's for
// fn, keeping root as the saved one to switch back to. Its callers must
// not be parallel, so that no other test runs meanwhile.
func AsNobody(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		fn()
		return
	}
	const nobody = 65534
	if err := syscall.Setresuid(nobody, nobody, 0); err != nil {
		t.Skipf("cannot switch to nobody: %v", err)
	}
	defer func() {
		if err := syscall.Setresuid(0, 0, 0); err != nil {
			panic(err) // the other tests would run as nobody
		}
	}()
	fn()
}
