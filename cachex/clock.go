package cachex

import "time"

// Clock tells the time. The adaptive TTL manager and the system gate take one
// so tests can move time by hand.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
