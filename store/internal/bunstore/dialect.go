// Package bunstore is the one bun repository behind every Tasker store. It is
// written once against bun.IDB; a backend supplies only a Dialect (clock,
// claim locking, error mapping), opens the database and carries migrations.
package bunstore

import (
	"time"

	"github.com/tasker-go/tasker/store"
)

// Dialect is what differs between databases.
type Dialect interface {
	Capabilities() store.Capabilities
	// Time returns a query argument meaning t+offset. A zero t means "now"
	// by the database's clock (Postgres: an SQL expression, so a process
	// with a skewed clock cannot steal a lease or run a step early) or the
	// process clock (SQLite, which shares the machine with its writer).
	Time(t time.Time, offset time.Duration) any
	// SkipLocked is appended to the claim's inner SELECT: "FOR UPDATE OF s
	// SKIP LOCKED" on Postgres, "" where a single writer serialises claims.
	SkipLocked() string
	// LockTask is a query returning the id of task ?0 (no row: no such
	// task) that holds the task's events until the transaction ends, so a
	// send and a move of its events run one after the other (see lockTask).
	// Postgres: a transaction-level advisory lock, which no other statement
	// takes (a lock of the task's row would deadlock with the writers that
	// lock its steps first). SQLite: a plain read, as its one writer
	// serialises them already.
	LockTask() string
	// LockRows ends a SELECT whose rows must not change until the
	// transaction ends: " FOR NO KEY UPDATE" on Postgres (the lock an
	// UPDATE of the row takes, without writing a new version of it and
	// its index entries); "" on SQLite, whose one writer serialises the
	// transactions that could change them.
	LockRows() string
	// IndexedBy is the hint that makes a query read its table through the
	// named index: " INDEXED BY name" on SQLite, whose planner without
	// statistics (the store never runs ANALYZE) takes another index over a
	// partial one; "" on Postgres, whose planner weighs them itself.
	IndexedBy(index string) string
	// JSON returns a query argument for a JSON document inside VALUES,
	// where the column type is not known (Postgres casts it to jsonb).
	JSON(doc store.JSON) any
	// Placeholder is the n-th (from 1) bind parameter of a statement run
	// through database/sql ("?1", "$1").
	Placeholder(n int) string
	// BindTime is a time as a bind parameter that compares with the
	// stored times as bun writes them.
	BindTime(t time.Time) any
	// BindList returns "col IN (the list at placeholder ph)" and the
	// list ([]string or []int64) as one bind parameter.
	BindList(col, ph string, list any) (string, any)
	// BindJSON is a JSON document at placeholder ph, typed as the
	// database stores documents.
	BindJSON(ph string) string
	// BindLimit is a LIMIT of the bound parameter at placeholder ph.
	// SQLite: +ph. SQLite plans LIMIT ph with the value bound at prepare
	// time and marks the statement to be prepared again whenever ph is
	// bound anew, so a cached statement was re-prepared at every run (a
	// claim: 9 % of the CPU of 10-step chains); the unary plus keeps
	// the planner from reading the value.
	BindLimit(ph string) string
	// MaxParams bounds the parameters of one bound statement (multi-row
	// writes are chunked to it): below the database's limit, and on SQLite
	// far below, as its driver looks each parameter up by a linear scan
	// (a statement of n parameters costs n² to bind).
	MaxParams() int
	// BindArgs returns the arguments of a bound statement as the driver
	// takes them (pgx: with the mode that caches the statement).
	BindArgs(args []any) []any
	// BindArrays tells whether a bound parameter may be an array
	// (Postgres), so a multi-row list binds one array per column
	// (params.rows).
	BindArrays() bool
	// Among is the condition that col is among the values of query, a
	// subquery of one column, for a statement whose only use of query is
	// that test. Postgres: col = ANY(ARRAY(query)): the subquery runs
	// once, and its values are looked up by an index or a hash, so no plan
	// can join the table to it row by row from the table's side. (A
	// generic plan made on small tables did, for col IN (query): a claim
	// of 36 steps among 722 scanned the CTE of the claimed ids once per
	// row of tasker_steps, 12 ms.) SQLite: col IN (query).
	Among(col, query string) string
	// WritableCTE tells whether data-modifying statements may sit in a
	// WITH clause (Postgres), so one statement can write several tables.
	WritableCTE() bool
	// JSONAgg aggregates, over the rows of a query, one JSON array of the
	// elements per row into a JSON array (NULL or [] over no rows).
	JSONAgg(elems ...string) string
	// JSONCol is a stored JSON document column as a JSON value (not a
	// string) inside JSONAgg.
	JSONCol(col string) string
	// TimeBucket is an SQL expression for the interval of time column col
	// among intervals of a width starting at an origin: the integer
	// floor((col - origin) / width), with the origin and the width as two
	// bind parameters (? ?) in Unix seconds.
	TimeBucket(col string) string
	// MapError turns driver errors into store sentinels (ErrConflict for
	// unique violations, ErrRetryable for transient failures); others pass.
	MapError(err error) error
}
