package cachex

import "time"

// Clock tells the time. The adaptive TTL manager and the system gate take
// one so tests can move time by hand; the engine passes its own clock
// (engine.Config.Clock), so one clock drives the engine and its cache. Nil
// means the wall clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
