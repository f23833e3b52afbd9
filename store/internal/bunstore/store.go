package bunstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// Store implements store.Store on bun.
type Store struct {
	db      *bun.DB // the database; WithTx keeps it for DB()
	rw      bun.IDB // where writes go (the pool, or the caller's tx)
	ro      bun.IDB // where reads go (a read pool, or rw)
	d       Dialect // what differs between databases
	closeFn func() error
	groups  *groupsSeen // shared with WithTx views
	prio    *seen       // shared with WithTx views
}

// groupsSeen remembers whether any concurrency group or rate limit exists, so claims skip
// the grouped pass (a statement) in deployments that use none. Groups are
// never deleted: once seen, always looked for; until then, looked for at
// most once per groupsRecheck (a group made by another process is noticed
// that late at worst).
type groupsSeen struct {
	exist     atomic.Bool
	checkedAt atomic.Int64 // unix nanoseconds
	// nextToken is when a step held back by a rate limit may next be
	// claimed (unix nanoseconds, 0: none held): NextWakeup reports it.
	nextToken atomic.Int64
}

// seen remembers whether rows of some kind may exist (ready steps with a
// priority): a claim looks for them while they may, and otherwise at most
// once per groupsRecheck.
type seen struct {
	exist     atomic.Bool
	checkedAt atomic.Int64 // unix nanoseconds
}

// forget: the last look found none.
func (x *seen) forget() { x.exist.Store(false) }

// mayHavePriorities reports whether the priority pass is worth a statement.
func (s *Store) mayHavePriorities(ctx context.Context, tx bun.IDB) bool {
	x := s.prio
	if x.exist.Load() {
		return true
	}
	now := time.Now().UnixNano()
	if last := x.checkedAt.Load(); now-last < int64(groupsRecheck) || !x.checkedAt.CompareAndSwap(last, now) {
		return false
	}
	var n []int
	if err := tx.NewRaw(`SELECT 1 FROM tasker_steps WHERE state = 'pending' AND pending_deps = 0 AND priority > 0
		AND conc_group IS NULL AND rate_system IS NULL LIMIT 1`).Scan(ctx, &n); err == nil && len(n) > 0 {
		x.exist.Store(true)
	}
	return x.exist.Load()
}

const groupsRecheck = time.Second

// mayHaveGroups reports whether the grouped pass is worth running.
func (s *Store) mayHaveGroups(ctx context.Context, tx bun.IDB) bool {
	g := s.groups
	if g.exist.Load() {
		return true
	}
	now := time.Now().UnixNano()
	if last := g.checkedAt.Load(); now-last < int64(groupsRecheck) || !g.checkedAt.CompareAndSwap(last, now) {
		return false
	}
	var n []int
	if err := tx.NewRaw(`SELECT 1 FROM tasker_conc_groups UNION ALL SELECT 1 FROM tasker_rate_limits LIMIT 1`).Scan(ctx, &n); err == nil && len(n) > 0 {
		g.exist.Store(true)
	}
	return g.exist.Load()
}

var _ store.Store = (*Store)(nil)

// New returns a store writing through rw and reading through ro (ro may be
// nil: reads then use rw). closeFn closes the underlying pools.
func New(rw, ro *bun.DB, d Dialect, closeFn func() error) *Store {
	s := &Store{db: rw, rw: rw, ro: rw, d: d, closeFn: closeFn, groups: &groupsSeen{}, prio: &seen{}}
	if ro != nil {
		s.ro = ro
	}
	return s
}

// DB returns the database writes go through.
func (s *Store) DB() *bun.DB { return s.db }

// WithTx returns a store whose methods run inside tx.
func (s *Store) WithTx(tx bun.IDB) store.Store {
	return &Store{db: s.db, rw: tx, ro: tx, d: s.d, groups: s.groups, prio: s.prio}
}

// Capabilities describes the backend.
func (s *Store) Capabilities() store.Capabilities { return s.d.Capabilities() }

// Close closes the pools (a no-op on a WithTx view).
func (s *Store) Close() error {
	if s.closeFn == nil {
		return nil
	}
	return s.closeFn()
}

// inTx runs fn in a transaction (a savepoint when the store is a WithTx
// view) and maps driver errors.
func (s *Store) inTx(ctx context.Context, action string, fn func(ctx context.Context, tx bun.IDB) error) error {
	err := s.rw.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error { return fn(ctx, tx) })
	return s.wrap(action, err)
}

func (s *Store) wrap(action string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		// The action names what was looked for ("getting task 7"); the
		// driver's "no rows in result set" adds nothing to it.
		return fmt.Errorf("%s: %w", action, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", action, s.d.MapError(err))
}

// now is the wall time recorded in created/updated columns and audit rows.
// Lease and backoff arithmetic goes through Dialect.Time instead.
func now(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t.UTC()
}

func newLeaseToken() int64 { return rand.Int64N(1<<62) + 1 }

func orEmptyObject(j store.JSON) store.JSON {
	if len(j) == 0 {
		return store.JSON("{}")
	}
	return j
}
