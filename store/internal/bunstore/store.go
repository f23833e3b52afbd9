package bunstore

import (
	"context"
	"database/sql"
	"encoding/json"
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
	hints   *claimHints     // shared with WithTx views
	texts   *texts          // statement texts by shape, shared with WithTx views
	hooks   []bun.QueryHook // run around statements sent outside bun
}

// claimHints are what this store's claims remember between calls, so that
// deployments that use no priority, concurrency group or rate limit pay no
// statement for them.
type claimHints struct {
	gated seen // a concurrency group or rate limit exists (never deleted)
	prio  seen // ready steps with a priority may exist
	// nextToken is when a step held back by a rate limit may next be
	// claimed (unix nanoseconds, 0: none held): NextWakeup and HeldUntil
	// report it.
	nextToken atomic.Int64
}

// seen remembers whether rows of some kind may exist: once marked, claims
// look for them (until forget); otherwise they check at most once per
// recheck, so rows made by another process are noticed that late at worst.
type seen struct {
	exist     atomic.Bool
	checkedAt atomic.Int64 // unix nanoseconds
}

const recheck = time.Second

func (x *seen) mark()   { x.exist.Store(true) }
func (x *seen) forget() { x.exist.Store(false) }

// may reports whether the rows may exist, running query (which returns a
// row when they do) at most once per recheck while they are not known to.
func (x *seen) may(ctx context.Context, tx bun.IDB, query string) bool {
	if x.exist.Load() {
		return true
	}
	now := time.Now().UnixNano()
	if last := x.checkedAt.Load(); now-last < int64(recheck) || !x.checkedAt.CompareAndSwap(last, now) {
		return false
	}
	var n []int
	if err := tx.NewRaw(query).Scan(ctx, &n); err == nil && len(n) > 0 {
		x.mark()
	}
	return x.exist.Load()
}

var _ store.Store = (*Store)(nil)

// New returns a store writing through rw and reading through ro (ro may be
// nil: reads then use rw). closeFn closes the underlying pools.
func New(rw, ro *bun.DB, d Dialect, closeFn func() error) *Store {
	s := &Store{db: rw, rw: rw, ro: rw, d: d, closeFn: closeFn, hints: &claimHints{}, texts: &texts{}}
	if ro != nil {
		s.ro = ro
	}
	return s
}

// DB returns the database writes go through.
func (s *Store) DB() *bun.DB { return s.db }

// WithTx returns a store whose methods run inside tx.
func (s *Store) WithTx(tx bun.IDB) store.Store {
	return &Store{db: s.db, rw: tx, ro: tx, d: s.d, hints: s.hints, texts: s.texts, hooks: s.hooks}
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

// consequenceMeta is the metadata of a move an operator's action brings
// about (the steps a retry gives fresh attempts, the task a resolve
// settles): the action's own metadata (its actor, say), its reason
// replaced by what the move is. Metadata that is not an object keeps only
// the reason.
func consequenceMeta(action store.JSON, reason string) store.JSON {
	m := map[string]json.RawMessage{}
	if len(action) > 0 && json.Unmarshal(action, &m) != nil || m == nil {
		m = map[string]json.RawMessage{}
	}
	m["reason"], _ = json.Marshal(reason)
	doc, _ := json.Marshal(m) // raw members that decoded encode again
	return doc
}
