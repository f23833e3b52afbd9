package bunstore

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
)

// The hottest statements run with bind parameters instead of through bun,
// which formats every value into the SQL text: each statement bun sends is
// new to the database, which parses (SQLite) or parses and plans
// (Postgres) it again — a third of the claim path's CPU on SQLite. A bound
// statement's text depends only on its kind, so the database caches it:
// the SQLite store's connections keep their prepared statements by text,
// and pgx its own statement cache (Dialect.BindArgs).

// SetQueryHooks makes the statements the store runs outside bun visible to
// hooks (the stores' Options.QueryHooks), as bun's own are.
func (s *Store) SetQueryHooks(hooks []bun.QueryHook) { s.hooks = hooks }

// query runs query, whose placeholders are the dialect's own, with args
// bound by the driver. Its rows must be read to the end and closed before
// the next statement on the same connection (the driver reuses the
// statement).
func (s *Store) query(ctx context.Context, db bun.IDB, query string, args []any) (*sql.Rows, error) {
	var rows *sql.Rows
	err := s.bound(ctx, query, args, func(ctx context.Context, c sqlConn, args []any) (err error) {
		rows, err = c.QueryContext(ctx, query, args...)
		return err
	}, db)
	return rows, err
}

// exec runs a bound statement that returns no rows.
func (s *Store) exec(ctx context.Context, db bun.IDB, query string, args []any) error {
	return s.bound(ctx, query, args, func(ctx context.Context, c sqlConn, args []any) error {
		_, err := c.ExecContext(ctx, query, args...)
		return err
	}, db)
}

// sqlConn is what database/sql's DB, Conn and Tx have in common.
type sqlConn interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// bound runs a bound statement on the database/sql object under db, with
// the store's query hooks around it.
func (s *Store) bound(ctx context.Context, query string, args []any, run func(context.Context, sqlConn, []any) error, db bun.IDB) error {
	var c sqlConn
	switch v := db.(type) {
	case bun.Tx:
		c = v.Tx
	case *bun.Tx:
		c = v.Tx
	case *bun.DB:
		c = v.DB
	case bun.Conn:
		c = v.Conn
	default:
		return fmt.Errorf("bunstore: cannot run a bound statement on %T", db)
	}
	if len(s.hooks) == 0 { // the common case: no event to build
		return run(ctx, c, s.d.BindArgs(args))
	}
	ev := &bun.QueryEvent{DB: s.db, Query: query, QueryTemplate: query, QueryArgs: args, StartTime: time.Now()}
	for _, h := range s.hooks {
		ctx = h.BeforeQuery(ctx, ev)
	}
	ev.Err = run(ctx, c, s.d.BindArgs(args))
	for i := len(s.hooks) - 1; i >= 0; i-- {
		s.hooks[i].AfterQuery(ctx, ev)
	}
	return ev.Err
}

// texts keeps the texts of statements long enough that building them
// costs more than looking them up (the finish statement: ~45 µs of string
// building per call), by a comparable key that determines the text: the
// fragments it is built from.
type texts struct {
	m sync.Map
	n atomic.Int32
}

// maxTexts bounds texts: keys are a few shapes per store (a new lease TTL
// or claim filter is a new key), and past the bound a text is built each
// time instead of kept.
const maxTexts = 256

// text returns the text for key, built by build on its first use.
func (t *texts) text(key any, build func() string) string {
	if v, ok := t.m.Load(key); ok {
		return v.(string)
	}
	q := build()
	if t.n.Load() < maxTexts {
		if _, loaded := t.m.LoadOrStore(key, q); !loaded {
			t.n.Add(1)
		}
	}
	return q
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

// in is "col IN (list)" with the list ([]string or []int64) one bound
// parameter, so the text is the same whatever its length.
func (p *params) in(col string, list any) string {
	if !p.s.d.BindArrays() {
		// One value (a chain's step, a lone task): an equality, not a
		// JSON array the database parses and reads as a table.
		if v := reflect.ValueOf(list); v.Kind() == reflect.Slice && v.Len() == 1 {
			return col + " = " + p.arg(v.Index(0).Interface())
		}
	}
	sql, v := p.s.d.BindList(col, p.s.d.Placeholder(len(p.args)+1), list)
	p.args = append(p.args, v)
	return sql
}

// scan runs a bound query and scans its rows into dest (a bun model).
func (s *Store) scan(ctx context.Context, db bun.IDB, query string, args []any, dest any) error {
	rows, err := s.query(ctx, db, query, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := s.db.ScanRows(ctx, rows, dest); err != nil {
		return err
	}
	return rows.Err()
}

// rows is a query of rows of bound values, cols being the columns' SQL
// types. Where the dialect binds arrays (Postgres) it is one array per
// column, unnested: the text is the same whatever the number of rows, so
// Postgres prepares and plans the statement once, where a VALUES list of
// each length is a new statement, prepared (a round trip) and planned (a
// millisecond for the finish statement) again. Elsewhere (SQLite) it is a
// VALUES list of untyped parameters.
func (p *params) rows(cols []string, rows [][]any) string {
	if !p.s.d.BindArrays() {
		values := make([]string, len(rows))
		for r, row := range rows {
			vals := make([]string, len(cols))
			for c := range cols {
				vals[c] = p.arg(row[c])
			}
			values[r] = "(" + strings.Join(vals, ", ") + ")"
		}
		return "VALUES " + strings.Join(values, ", ")
	}
	args := make([]string, len(cols))
	for c, typ := range cols {
		vals := make([]any, len(rows))
		for r, row := range rows {
			vals[r] = row[c]
		}
		args[c] = "CAST(" + p.arg(vals) + " AS " + typ + "[])"
	}
	return "SELECT * FROM unnest(" + strings.Join(args, ", ") + ")"
}

// json is a JSON document parameter (jsonb on Postgres).
func (p *params) json(doc []byte) string { return p.s.d.BindJSON(p.arg(string(doc))) }
