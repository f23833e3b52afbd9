package postgres

import "github.com/tasker-go/tasker/store/internal/bunstore"

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
