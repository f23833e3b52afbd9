package postgres

// SetListenHook makes the listener call f with its backend pid each time it
// starts listening. Call it before the first Wakeups.
func SetListenHook(s *Store, f func(pid uint32)) { s.waker.onListen = f }

// BreakListener points the listener at a port where nothing listens, so it
// never connects. Call it before the first Wakeups.
func BreakListener(s *Store) { s.waker.connCfg.Port = 1 }

// MapError exposes the error mapping.
var MapError = mapError
