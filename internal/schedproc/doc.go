// Package schedproc holds the multi-process tests of schedules: three
// real OS processes (this package's test binary, re-executed as workers)
// share one PostgreSQL database and fire every tick of a schedule exactly
// once while the leader is killed with SIGKILL, and catch up after all of
// them were down, per the overlap policy and the catch-up window. It is a
// package of its own so that its minutes run in parallel with the engine's
// tests.
package schedproc
