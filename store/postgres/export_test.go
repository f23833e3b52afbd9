package postgres

import (
	"time"

	"github.com/tasker-go/tasker/store/internal/bunstore"
)

// MigrationVersions lists the embedded migrations' versions in order.
func MigrationVersions() []int {
	ms, err := bunstore.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.Version
	}
	return out
}

// SetListenHook makes the listener call f with its backend pid each time it
// starts listening. Call it before the first Wakeups.
func SetListenHook(s *Store, f func(pid uint32)) { s.waker.onListen = f }

// BreakListener points the listener at a port where nothing listens, so it
// never connects. Call it before the first Wakeups.
func BreakListener(s *Store) { s.waker.connCfg.Port = 1 }

// MapError exposes the error mapping.
var MapError = mapError

// SetHelloGrace sets how long the store's listener sends NOTIFYs without
// having heard another process. Call it before the first Wakeups.
func SetHelloGrace(s *Store, d time.Duration) { s.waker.grace = d }

// NotifyState reports the store's NOTIFY payload, whether it knows of
// another process (heard within its peer TTL), and how many NOTIFYs it
// skipped for knowing none.
func NotifyState(s *Store) (self string, peers bool, skipped int64) {
	return s.waker.self, s.waker.known(), s.waker.skipped.Load()
}

// SetPeerTTL sets how long the store's waker keeps a process it heard
// known, and how often it says it is alive while it knows one. Call it
// before the first Wakeups (it is read by the waker's goroutines).
func SetPeerTTL(s *Store, ttl, alive time.Duration) { s.waker.peerTTL, s.waker.aliveEvery = ttl, alive }

// ChannelName is the LISTEN channel of a schema.
var ChannelName = channelName

// SetNotifyWindows sets how long after a NOTIFY of its kind the store
// holds the next: wake-ups (Wake) and completions (AnnounceDone).
func SetNotifyWindows(s *Store, wake, done time.Duration) {
	s.waker.readyEvery.Store(int64(wake))
	s.waker.doneEvery.Store(int64(done))
}
