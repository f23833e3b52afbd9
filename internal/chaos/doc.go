// Package chaos runs the failure scenarios of `tasker chaos` against a
// fresh SQLite file or PostgreSQL schema each, and reports for each the
// figures that matter: workflows lost, steps completed twice, stale writes
// refused (results of attempts whose lease was gone), and the time to
// recover. Every figure but the last must be 0.
//
// The faults come from internal/faultstore: a store call that commits and
// then reports an error (the reply lost: the case that breaks exactly-once
// in naive engines), heartbeats that fail until the lease is gone. The
// workload (Register, Start, Check) is shared with the engine's chaos
// tests. Scenarios about processes (kill -9, SIGSTOP past a lease, a
// database restart) are tests of their own: engine/crash_test.go,
// engine/chaos_poison_test.go and internal/multiproc.
package chaos
