package bunstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"
)

// The hottest statement, the claim, runs as a prepared statement with bind
// parameters: bun formats every value into the SQL text, so each statement
// it sends is new to the database, which parses (SQLite) or parses and
// plans (Postgres) it again — a third of the claim path's CPU on SQLite.
// A prepared statement is parsed once per connection.

// stmtCache holds prepared statements by SQL text, shared by a store and
// its WithTx views.
type stmtCache struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	closed bool
}

// prepare prepares query on the database unless it is prepared already.
// It must be called outside a transaction of this store (on SQLite the
// writer's one connection would be held by it), and it holds no lock
// while it prepares: a transaction under way may look up statements
// meanwhile.
func (s *Store) prepare(ctx context.Context, query string) error {
	if _, view := s.rw.(*bun.DB); !view || s.cached(query) != nil {
		return nil // (a WithTx view: its caller's transaction holds a connection)
	}
	st, err := s.db.DB.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	c := s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.m[query]; dup || c.closed {
		return st.Close()
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return nil
}

// cached returns the prepared statement for query, if prepare made it.
func (s *Store) cached(query string) *sql.Stmt {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	return s.stmts.m[query]
}

// closeStmts closes the prepared statements (at Close).
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close()
	}
	c.m, c.closed = nil, true
}

// query runs query, whose placeholders are the dialect's own, with args
// bound by the driver (not formatted by bun): through the prepared
// statement when there is one and db is a transaction, else directly.
func (s *Store) query(ctx context.Context, db bun.IDB, query string, args []any) (*sql.Rows, error) {
	var tx *sql.Tx
	switch v := db.(type) {
	case bun.Tx:
		tx = v.Tx
	case *bun.Tx:
		tx = v.Tx
	case *bun.DB:
		if stmt := s.cached(query); stmt != nil {
			return stmt.QueryContext(ctx, args...)
		}
		return v.DB.QueryContext(ctx, query, args...)
	case bun.Conn:
		return v.Conn.QueryContext(ctx, query, args...)
	default:
		return nil, fmt.Errorf("bunstore: cannot run a bound statement on %T", db)
	}
	if stmt := s.cached(query); stmt != nil {
		return tx.StmtContext(ctx, stmt).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

// params builds a statement's text and its bind arguments in the
// database's placeholder style.
type params struct {
	s    *Store
	args []any
}

// arg adds v and returns its placeholder.
func (p *params) arg(v any) string {
	p.args = append(p.args, v)
	return p.s.d.Placeholder(len(p.args))
}

// time is t+offset by the dialect's clock rule: an SQL expression on the
// database's clock (Postgres, t zero) or a bound value.
func (p *params) time(t time.Time, offset time.Duration) string {
	switch v := p.s.d.Time(t, offset).(type) {
	case bun.Safe:
		return string(v)
	case time.Time:
		return p.arg(p.s.d.BindTime(v))
	default:
		panic(fmt.Sprintf("bunstore: unexpected time argument %T", v))
	}
}

// in is "col IN (list)" with the list one bound parameter.
func (p *params) in(col string, list []string) string {
	sql, v := p.s.d.BindList(col, p.s.d.Placeholder(len(p.args)+1), list)
	p.args = append(p.args, v)
	return sql
}
