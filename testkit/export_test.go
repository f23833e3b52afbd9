package testkit

// SetMaxRounds lowers the bound of RunUntilDone and RunFor for a test
// that exceeds it, and returns what restores it.
func SetMaxRounds(n int) (restore func()) {
	old := maxRounds
	maxRounds = n
	return func() { maxRounds = old }
}
