// Package multiproc holds tests in which several real OS processes (this
// package's test binary, re-executed as workers) share one PostgreSQL
// database: kill -9, SIGSTOP past a lease, concurrent idempotent starts,
// leader failover, and a database restart.
package multiproc
