package sqlite

import (
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	sqlite3 "modernc.org/sqlite"
)

// The store's connections keep the statements it runs with bind parameters
// prepared, by their text: SQLite parses a statement's text every time it
// is run unless the prepared statement is kept, and the driver keeps none.
// Statements without parameters — all that bun sends, its values formatted
// into the text, so they rarely repeat — pass through uncached.

// stmtCacheSize bounds the statements one connection keeps, the least
// recently used going first. Multi-row statements have one text per group
// size, so a busy engine runs a few hundred kinds; with 64 kept and the
// oldest evicted, fan-outs of code-first workflows (record groups of every
// size) pushed the claim and finish statements out, and tasker-code's
// SQLite fan-out in ../shared/peers fell from about 14,000 to 10,000
// steps/s.
const stmtCacheSize = 512

// openDB opens dsn through modernc's driver with statement caching.
func openDB(dsn string) *sql.DB {
	return sql.OpenDB(cachingConnector{dsn: dsn, drv: &sqlite3.Driver{}})
}

type cachingConnector struct {
	dsn string
	drv *sqlite3.Driver
}

func (c cachingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConn{inner: conn, stmts: map[string]*list.Element{}}, nil
}

func (c cachingConnector) Driver() driver.Driver { return c.drv }

// innerConn is what modernc's connection implements and the store uses.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is a modernc connection that keeps bound statements
// prepared. database/sql uses a connection from one goroutine at a time,
// so the cache needs no lock; a statement's rows are read to the end
// before the next statement runs on the connection (the store's rule).
type cachingConn struct {
	inner driver.Conn
	stmts map[string]*list.Element // of lru, holding a *cached
	lru   list.List                // most recently used first
}

type cached struct {
	query string
	stmt  driver.Stmt
	// order maps the prepared statement's parameters, all anonymous, to
	// the caller's: parameter k takes argument order[k] (1-based). Nil:
	// the statement is prepared as written.
	order []int
}

func (c *cachingConn) conn() (innerConn, error) {
	ic, ok := c.inner.(innerConn)
	if !ok {
		return nil, errors.New("sqlite: the driver's connection lacks a context method")
	}
	return ic, nil
}

func (c *cachingConn) stmt(ctx context.Context, query string) (*cached, error) {
	if el, ok := c.stmts[query]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*cached), nil
	}
	ic, err := c.conn()
	if err != nil {
		return nil, err
	}
	text, order := anonymize(query)
	st, err := ic.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	if c.lru.Len() == stmtCacheSize {
		old := c.lru.Remove(c.lru.Back()).(*cached)
		_ = old.stmt.Close()
		delete(c.stmts, old.query)
	}
	cs := &cached{query: query, stmt: st, order: order}
	c.stmts[query] = c.lru.PushFront(cs)
	return cs, nil
}

// args returns the arguments of the prepared statement for the caller's
// (database/sql's: ordinals 1…n, no names), or false when they do not fit
// its order.
func (cs *cached) args(args []driver.NamedValue) ([]driver.NamedValue, bool) {
	if cs.order == nil {
		return args, true
	}
	out := make([]driver.NamedValue, len(cs.order))
	for k, ord := range cs.order {
		if ord > len(args) || args[ord-1].Ordinal != ord || args[ord-1].Name != "" {
			return nil, false
		}
		out[k] = driver.NamedValue{Ordinal: k + 1, Value: args[ord-1].Value}
	}
	return out, true
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	ic, err := c.conn()
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return ic.QueryContext(ctx, query, args)
	}
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	bound, ok := cs.args(args)
	if !ok { // as written, for the driver to bind or refuse
		return ic.QueryContext(ctx, query, args)
	}
	return cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, bound)
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ic, err := c.conn()
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return ic.ExecContext(ctx, query, args)
	}
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	bound, ok := cs.args(args)
	if !ok { // as written, for the driver to bind or refuse
		return ic.ExecContext(ctx, query, args)
	}
	return cs.stmt.(driver.StmtExecContext).ExecContext(ctx, bound)
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	ic, err := c.conn()
	if err != nil {
		return nil, err
	}
	return ic.PrepareContext(ctx, query)
}

func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	ic, err := c.conn()
	if err != nil {
		return nil, err
	}
	return ic.BeginTx(ctx, opts)
}

func (c *cachingConn) Ping(ctx context.Context) error {
	ic, err := c.conn()
	if err != nil {
		return err
	}
	return ic.Ping(ctx)
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	ic, err := c.conn()
	if err != nil {
		return err
	}
	return ic.ResetSession(ctx)
}

func (c *cachingConn) IsValid() bool {
	ic, err := c.conn()
	return err == nil && ic.IsValid()
}

func (c *cachingConn) Close() error {
	var errs []error
	for _, el := range c.stmts {
		errs = append(errs, el.Value.(*cached).stmt.Close())
	}
	c.stmts = nil
	c.lru.Init()
	return errors.Join(append(errs, c.inner.Close())...)
}
