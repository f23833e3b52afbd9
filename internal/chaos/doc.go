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
// tests.
//
// The process scenarios (proc*.go) re-execute the running binary as worker
// processes (internal/proctest runs them): kill -9 mid-step, SIGTERM
// drain, SIGSTOP past the lease, PostgreSQL connections terminated, an
// SQLite writer killed during checkpoints, a disk full (RLIMIT_FSIZE), and
// the soak (soak.go). A binary that runs them must call RunChildIfAsked
// first thing in main (or TestMain). A poison step and a database restart
// stay tests of their own: engine/chaos_poison_test.go and
// internal/multiproc.
package chaos
