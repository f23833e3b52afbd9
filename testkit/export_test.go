package testkit

// SetMaxRounds lowers the bound of RunUntilDone, RunFor and CrashEach for a test
// that exceeds it, and returns what restores it.
func SetMaxRounds(n int) (restore func()) {
	old := maxRounds
	maxRounds = n
	return func() { maxRounds = old }
}
