// Package postgres is Tasker's shared store: PostgreSQL through a
// jackc/pgx/v5 connection pool, under bun's pgdialect.
//
// # Connections
//
// One pgxpool.Pool of Options.MaxConns connections serves everything; bun
// reaches it through database/sql (stdlib.OpenDBFromPool), whose own limit
// is set to the same number, so the budget is never exceeded whatever the
// worker concurrency: when every connection is busy, callers wait for one
// (bounded by their context) rather than fail. Stats reports the pool's
// occupancy and waits, from which the engine can derive its concurrency.
//
// Each connection sets plan_cache_mode to force_generic_plan unless the
// DSN sets it: the store's hot statements (claim, finish, start) are
// prepared once per connection with one text whatever their size (rows
// bound as arrays), so one generic plan serves every call, where Postgres
// would otherwise plan each call anew until it had seen five. bun's other
// statements carry their values in the text and are planned per call
// either way. The setting needs PostgreSQL 12 or later. Each connection
// also sets random_page_cost to 1.1 (the usual value for SSDs) unless the
// DSN sets it: with Postgres' default of 4, a plan made while the tables
// hold a few hundred rows scans them whole where a lookup by key would do.
//
// The wake-up listener (see Wakeups) holds one more connection of its own,
// outside the budget, and only once Wakeups has been called: a process that
// uses a Store with MaxConns = 10 and listens opens at most 11 connections.
//
// # Schemas
//
// Options.Schema puts every table in that schema by setting search_path on
// each connection, so tenants and tests share one database without seeing
// each other. Open creates, and nothing else:
//
//   - the schema Options.Schema names, when it does not exist (CREATE SCHEMA
//     needs the CREATE privilege on the database; with an empty Schema no
//     schema is ever created: the tables go in the connection's current
//     schema, the first existing one on its search_path, usually public);
//   - in that schema, the tables tasker_schema_migrations (the versions
//     applied), tasker_tasks, tasker_steps, tasker_step_edges,
//     tasker_task_transitions, tasker_step_transitions, tasker_events,
//     tasker_leaders, tasker_workers, tasker_conc_groups,
//     tasker_rate_limits, tasker_admin_tokens, tasker_workflow_values and
//     tasker_schedules, and their indexes, by applying the embedded
//     migrations not applied yet.
//
// The migrations run under a transaction-scoped advisory lock, so processes
// starting at once apply each change exactly once. Options.ReadOnly creates
// and migrates nothing: see there.
//
// # Time
//
// A zero Now in store params means the database's clock: leases, backoffs
// and readiness are computed with statement_timestamp(), so processes whose
// clocks disagree still agree on when a lease expires.
//
// # Claims
//
// Workers claim with FOR UPDATE SKIP LOCKED: many processes claim at once
// without blocking each other or handing a step out twice.
package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/tasker-go/tasker/internal/pgdsn"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/internal/bunstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DefaultMaxConns is the pool size when Options.MaxConns is zero.
const DefaultMaxConns = 10

// Options configure Open. The zero value is a good default.
type Options struct {
	// Schema holds Tasker's tables, named as written, case and all; Open
	// creates it when missing (refusing to when a schema of that name but
	// for case exists, which was likely meant), and sets every
	// connection's search_path to it (a dsn that sets search_path too, as
	// a parameter or in options, is refused, and so is a name with spaces
	// around it). Empty: the connection's current schema (usually
	// "public"), which Open never creates but does migrate (Tasker's
	// tables are created there).
	Schema string
	// ReadOnly opens an existing Tasker schema for reading only: Open
	// creates and migrates nothing, every transaction is read-only
	// (default_transaction_read_only), and a schema that does not exist or
	// lacks Tasker's tables at this package's version is refused with a
	// *store.SchemaError (matching store.ErrNotMigrated). A dsn's
	// default_transaction_read_only (a parameter, or in options) that
	// disagrees is refused: off beside ReadOnly, on without it (Open
	// could not migrate).
	ReadOnly bool
	// MaxConns is the connection budget of the pool (default 10). The
	// wake-up listener's one connection comes on top of it. Zero: the
	// dsn's pool_max_conns when it has one, else 10; a dsn's
	// pool_max_conns beside another MaxConns is refused. A dsn's
	// pool_min_conns is kept, at most the budget.
	MaxConns int
	// WakeupPoll is how often Wakeups (and TaskDone, which wakes Wait
	// and Result for tasks other processes finish) ticks while the
	// listener is disconnected, so the engine polls until it is back
	// (default 1 s; at least a millisecond).
	WakeupPoll time.Duration
	// QueryHooks run around every statement the store sends through bun
	// (for tracing, or counting statements as the bench does).
	QueryHooks []bun.QueryHook
}

func (o *Options) withDefaults() (Options, error) {
	var out Options
	if o != nil {
		out = *o
	}
	if out.MaxConns < 0 {
		return out, fmt.Errorf("postgres options: max conns must not be negative, got %d", out.MaxConns)
	}
	if out.WakeupPoll < 0 {
		return out, fmt.Errorf("postgres options: wakeup poll must not be negative, got %s", out.WakeupPoll)
	}
	if out.MaxConns == 0 {
		out.MaxConns = DefaultMaxConns
	}
	if out.MaxConns > maxConns {
		return out, fmt.Errorf("postgres options: max conns %d is absurd", out.MaxConns)
	}
	if out.WakeupPoll > 0 && out.WakeupPoll < time.Millisecond {
		return out, fmt.Errorf("postgres options: wakeup poll %s is under a millisecond: a bare number is nanoseconds (write 2 * time.Second, not 2)", out.WakeupPoll)
	}
	if out.WakeupPoll == 0 {
		out.WakeupPoll = time.Second
	}
	if i := slices.Index(out.QueryHooks, nil); i >= 0 {
		return out, fmt.Errorf("postgres options: query hook %d is nil", i)
	}
	if strings.IndexByte(out.Schema, 0) >= 0 || len(out.Schema) > 63 {
		return out, fmt.Errorf("postgres options: schema %q must be at most 63 bytes without NUL", out.Schema)
	}
	// Quoted, " app" is a schema of its own: Open created it beside the
	// one meant (?schema=%20app, a padded variable).
	if t := strings.TrimSpace(out.Schema); t != out.Schema {
		return out, fmt.Errorf("postgres options: schema %q has spaces around it: write %q", out.Schema, t)
	}
	return out, nil
}

// maxConns bounds MaxConns, as pgdsn.CheckPool does a dsn's
// pool_max_conns.
const maxConns = pgdsn.MaxConns

// fromDSN reconciles opts with what dsn sets that Open would otherwise
// override: pgxpool's pool_max_conns is the budget when MaxConns is not
// set, and is refused beside another one (the pool is MaxConns, which also
// bounds the store's callers); the pool parameters no pool can use
// (pgdsn.CheckPool) and a search_path, as a parameter or in options,
// beside Options.Schema (the schema becomes every connection's
// search_path) are refused, and so is a default_transaction_read_only
// that disagrees with Options.ReadOnly, and so are the CLI's ?schema=NAME
// (no server parameter: Options.Schema is) and an sqlite:// URL. A dsn
// that does not parse is left to pgxpool to report.
func fromDSN(dsn string, opts *Options) (*Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if path, ok := strings.CutPrefix(dsn, "sqlite://"); ok {
		return nil, fmt.Errorf("postgres dsn %q is an SQLite URL: open it with sqlite.Open(%q)", dsn, path)
	}
	pc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return &o, nil
	}
	p := pc.RuntimeParams
	// The CLI's ?schema=NAME reached the server as a parameter, which
	// refused every connection ("unrecognized configuration parameter").
	if v, ok := p["schema"]; ok {
		return nil, fmt.Errorf("postgres dsn: schema=%s is the tasker CLI's --db parameter, not PostgreSQL's: set Options.Schema to %q", v, v)
	}
	if err := pgdsn.CheckPool(p, cmp.Or(o.MaxConns, DefaultMaxConns)); err != nil {
		return nil, fmt.Errorf("postgres dsn: %w", err)
	}
	if v, ok := p["pool_max_conns"]; ok {
		switch n, _ := strconv.Atoi(v); {
		case o.MaxConns == 0:
			o.MaxConns = n
		case n != o.MaxConns:
			return nil, fmt.Errorf("postgres dsn: pool_max_conns=%s beside Options.MaxConns %d: give one", v, o.MaxConns)
		}
	}
	if v, ok := p["search_path"]; ok && o.Schema != "" {
		return nil, fmt.Errorf("postgres dsn: search_path=%s beside Options.Schema %q, which becomes every connection's search_path: give one", v, o.Schema)
	}
	// Set in options, it was overridden as silently: the server applies
	// options before the parameters.
	if v, inOptions, _ := pgdsn.Setting(p, "search_path"); inOptions && o.Schema != "" {
		return nil, fmt.Errorf("postgres dsn: options sets search_path=%s beside Options.Schema %q, which becomes every connection's search_path: give one", v, o.Schema)
	}
	// Open sets default_transaction_read_only with ReadOnly, over the
	// dsn's; without it, on failed the migration in the server's words.
	v, inOptions, _ := pgdsn.Setting(p, "default_transaction_read_only")
	what := ""
	if inOptions {
		what = "options sets "
	}
	if on, isBool := pgdsn.Bool(v); isBool {
		switch {
		case on && !o.ReadOnly:
			return nil, fmt.Errorf("postgres dsn: %sdefault_transaction_read_only=%s, which makes every transaction read-only, and Open creates and migrates the schema: set Options.ReadOnly instead", what, v)
		case !on && o.ReadOnly:
			return nil, fmt.Errorf("postgres dsn: %sdefault_transaction_read_only=%s beside Options.ReadOnly, which sets it on: give one", what, v)
		}
	}
	return &o, nil
}

// Store is a Tasker store on PostgreSQL. Besides store.Store it implements
// store.Waker (cross-process wake-ups over LISTEN/NOTIFY).
type Store struct {
	*bunstore.Store
	pool   *pgxpool.Pool
	sqldb  *sql.DB
	schema string
	// readOnly: opened with Options.ReadOnly (Migrate refuses).
	readOnly bool
	waker    *waker
	stats    statsRefresher
}

var (
	_ store.Store = (*Store)(nil)
	_ store.Waker = (*Store)(nil)
)

// Open connects to the database at dsn (a postgres:// URL or key=value
// string as pgx accepts), creates the schema when needed and applies the
// embedded migrations (see the package doc for exactly what it creates);
// with Options.ReadOnly it only checks that the schema is there. A schema
// a newer Tasker migrated is refused (a *store.SchemaError, Found above
// Want) and left as it was.
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	opts, err := fromDSN(dsn, opts)
	if err != nil {
		return nil, err
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing postgres dsn: %w", err)
	}
	cfg.MaxConns = int32(o.MaxConns)
	if o.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{o.Schema}.Sanitize()
	}
	if o.ReadOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if !strings.Contains(dsn, "default_query_exec_mode") {
		// bun sends every value inlined in the SQL text, so no two
		// statements are alike: pgx's default of preparing and caching
		// each statement costs a second round trip and fills the cache
		// with statements never seen again. One round trip, no cache.
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	if !strings.Contains(dsn, "plan_cache_mode") {
		// The store's bound statements (the claim, finish and start paths)
		// have one text each whatever their size, their partial-index
		// predicates written as literals: one generic plan fits every call.
		// Postgres would plan each custom five times on every connection
		// first — a millisecond a time for the finish statement. bun's
		// statements carry no parameters and are planned once anyway.
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	if !strings.Contains(dsn, "random_page_cost") {
		// Postgres' default (4) prices a page read by key as if from a
		// spinning disk; the store's rows are read by key and cached. With
		// it, the finish statement's generic plan, made for tables of a
		// few hundred steps, joined the steps it counts down by scanning
		// tasker_steps whole (every finish of a 200-workflow W5 run; 0.46
		// of its 0.55 ms with EXPLAIN ANALYZE); with 1.1, the usual value
		// for SSDs, none scans a table whole.
		cfg.ConnConfig.RuntimeParams["random_page_cost"] = "1.1"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening postgres pool: %w", err)
	}
	sqldb := stdlib.OpenDBFromPool(pool)
	// database/sql queues callers at the same limit as the pool (its idle
	// connections stay in the pool: OpenDBFromPool keeps none itself).
	sqldb.SetMaxOpenConns(o.MaxConns)
	db := bun.NewDB(sqldb, pgdialect.New())
	for _, h := range o.QueryHooks {
		db = db.WithQueryHook(h)
	}
	closeAll := func() error {
		err := sqldb.Close()
		pool.Close()
		return err
	}

	schema := o.Schema
	if schema == "" {
		var cur sql.NullString
		if err := db.NewRaw("SELECT current_schema()").Scan(ctx, &cur); err != nil {
			closeAll()
			return nil, fmt.Errorf("finding the current schema: %w", mapError(err))
		}
		if !cur.Valid {
			closeAll()
			return nil, errors.New("finding the current schema: the connection's search_path names no existing schema (set Options.Schema)")
		}
		schema = cur.String
	}
	s := &Store{pool: pool, sqldb: sqldb, schema: schema, readOnly: o.ReadOnly}
	if o.ReadOnly {
		err = s.checkSchema(ctx, db)
	} else {
		_, err = s.migrate(ctx, db, o.Schema != "")
	}
	if err != nil {
		closeAll()
		return nil, err
	}
	s.waker = newWaker(pool, cfg.ConnConfig, schema, o.WakeupPoll)
	s.Store = bunstore.New(db, nil, dialect{}, func() error {
		s.stats.stop()
		s.waker.close()
		return closeAll()
	})
	s.Store.SetQueryHooks(o.QueryHooks)
	return s, nil
}

// Migrate applies the embedded migrations not yet applied (Open already
// did; this is for tools that manage schemas by hand) and returns how many
// it applied. It refuses a schema a newer Tasker migrated, as Open does,
// and a store opened with Options.ReadOnly.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	if s.readOnly {
		// Its every transaction is read-only: the server refused even
		// a schema with nothing to apply, in words naming a table.
		return 0, fmt.Errorf("migrating postgres schema %q: the store is read-only (Options.ReadOnly)", s.schema)
	}
	return s.migrate(ctx, s.DB(), true)
}

func (s *Store) migrate(ctx context.Context, db *bun.DB, create bool) (int, error) {
	migrations, err := bunstore.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		return 0, err
	}
	where := fmt.Sprintf("postgres schema %q", s.schema)
	n, err := bunstore.Migrate(ctx, db, migrations, bunstore.Snapshot{}, where, func(ctx context.Context, tx bun.Tx) error {
		// Everyone migrating this schema queues here, so the schema and
		// each migration are created once; other schemas are not held up.
		if _, err := tx.NewRaw("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "tasker.migrate:"+s.schema).Exec(ctx); err != nil {
			return fmt.Errorf("locking for migration: %w", err)
		}
		if !create {
			return nil
		}
		// CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when
		// the schema exists; look first so a least-privileged role whose
		// schema was made for it can still open.
		exists, err := tx.NewSelect().TableExpr("pg_namespace").Where("nspname = ?", s.schema).Exists(ctx)
		if err != nil {
			return fmt.Errorf("looking for the schema: %w", err)
		}
		if exists {
			return nil
		}
		// The name is quoted, so "Shop" beside shop (a name PostgreSQL
		// folded to lower case) made a second, empty schema.
		var other []string
		if err := tx.NewRaw("SELECT nspname FROM pg_namespace WHERE lower(nspname) = lower(?) ORDER BY nspname LIMIT 1", s.schema).Scan(ctx, &other); err != nil {
			return fmt.Errorf("looking for the schema: %w", err)
		}
		if len(other) > 0 {
			return fmt.Errorf("there is no schema %q, but there is %q (the name is taken as written, case and all): write %q", s.schema, other[0], other[0])
		}
		if _, err := tx.ExecContext(ctx, "CREATE SCHEMA "+pgx.Identifier{s.schema}.Sanitize()); err != nil {
			return fmt.Errorf("creating the schema: %w", err)
		}
		return nil
	})
	if se := (*store.SchemaError)(nil); errors.As(err, &se) {
		return n, err // it names the schema
	}
	if err != nil {
		return n, fmt.Errorf("migrating %s: %w", where, mapError(err))
	}
	return n, nil
}

// checkSchema refuses a schema that does not exist or lacks Tasker's tables
// at the version of the embedded migrations.
func (s *Store) checkSchema(ctx context.Context, db *bun.DB) error {
	migrations, err := bunstore.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	where := fmt.Sprintf("postgres schema %q", s.schema)
	var exists, tables bool
	err = db.NewRaw("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ?), to_regclass(quote_ident(?) || '.tasker_schema_migrations') IS NOT NULL",
		s.schema, s.schema).Scan(ctx, &exists, &tables)
	switch {
	case err != nil:
		return fmt.Errorf("looking for %s: %w", where, mapError(err))
	case !exists:
		return &store.SchemaError{Database: where, Absent: true, Want: bunstore.LastVersion(migrations)}
	case !tables:
		return &store.SchemaError{Database: where, Want: bunstore.LastVersion(migrations)}
	}
	return bunstore.CheckVersion(ctx, db, migrations, where)
}

// Schema is the schema holding Tasker's tables.
func (s *Store) Schema() string { return s.schema }

// SchemaVersion is the highest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return bunstore.SchemaVersion(ctx, s.DB())
}

// Stats describe the connection pool at one moment.
type Stats struct {
	MaxConns      int32 // the budget (Options.MaxConns)
	TotalConns    int32 // open, in use or idle
	AcquiredConns int32 // in use by a query or transaction
	IdleConns     int32 // open and free
	// AcquireCount counts connections the pool handed out since Open
	// (database/sql passes a released connection straight to a caller
	// waiting for one without going through the pool).
	AcquireCount int64
	// WaitCount counts the times a caller found no free connection and
	// waited (for one to be released or dialled); WaitDuration is the time
	// they spent waiting, summed. A rising WaitCount means the budget is
	// the bottleneck.
	WaitCount    int64
	WaitDuration time.Duration
	// Listening reports whether the wake-up listener is connected (its
	// connection is outside the budget and not counted above).
	Listening bool
}

// Stats returns the pool's current statistics.
func (s *Store) Stats() Stats {
	ps := s.pool.Stat()
	ds := s.sqldb.Stats()
	return Stats{
		MaxConns:      ps.MaxConns(),
		TotalConns:    ps.TotalConns(),
		AcquiredConns: ps.AcquiredConns(),
		IdleConns:     ps.IdleConns(),
		AcquireCount:  ps.AcquireCount(),
		// database/sql queues callers at the budget; the pool queues only
		// when something else (the waker's NOTIFY) holds a connection,
		// or while one is being dialled.
		WaitCount:    ds.WaitCount + ps.EmptyAcquireCount(),
		WaitDuration: ds.WaitDuration + ps.EmptyAcquireWaitTime(),
		Listening:    s.waker.listening.Load(),
	}
}

// Wake announces to every process sharing this schema (this one included)
// that steps may have become ready. It never blocks: calls are coalesced
// and the NOTIFY is sent from a background goroutine on a pool connection,
// outside any transaction, so call it after the commit that made the work.
// A process that listens (Wakeups, TaskDone) sends none while it knows of
// no other process on the schema: listeners greet each other when they
// start, any notification from another process makes it known for 30 s,
// and a listener that knows of another says it is alive every 10 s.
func (s *Store) Wake() { s.waker.wake() }

// Wakeups delivers announcements made by Wake in any process sharing the
// schema, coalesced (the channel holds at most one). The first call starts
// the listener on a connection of its own; while that connection is down
// (it reconnects with backoff) the channel ticks every Options.WakeupPoll
// so the caller falls back to polling.
func (s *Store) Wakeups() <-chan struct{} { return s.waker.wakeups() }

// AnnounceDone tells other processes sharing the schema that a task
// finished, so their Wait calls look at once (NOTIFY, coalesced with Wake's
// within a few milliseconds).
func (s *Store) AnnounceDone() { s.waker.announceDone() }

// TaskDone delivers other processes' AnnounceDone, coalesced. The first
// call starts the listener, as Wakeups does; it lives until Close, so stop
// does nothing.
func (s *Store) TaskDone() (<-chan struct{}, func()) { return s.waker.taskDone(), func() {} }

type dialect struct{}

func (dialect) Capabilities() store.Capabilities {
	return store.Capabilities{Dialect: "postgres", SkipLocked: true, ListenNotify: true}
}

// Time returns t+offset, or an expression on the database's clock when t
// is zero. statement_timestamp() rather than now() (frozen at the start of
// the transaction, stale inside a caller's long one) or clock_timestamp()
// (volatile: it differs row by row and keeps the claim's readiness test
// off the index).
func (dialect) Time(t time.Time, offset time.Duration) any {
	if t.IsZero() {
		return bun.Safe(fmt.Sprintf("(statement_timestamp() + interval '%d microseconds')", offset.Microseconds()))
	}
	return t.Add(offset).UTC()
}

func (dialect) JSON(doc store.JSON) any { return bun.SafeQuery("CAST(? AS jsonb)", doc) }

func (dialect) SkipLocked() string { return "FOR UPDATE OF s SKIP LOCKED" }

// The key is the task's within this schema: stores in other schemas of the
// database (hashtextextended's seed is the task id) do not wait on it.
func (dialect) LockRows() string { return " FOR NO KEY UPDATE" }

func (dialect) LockTask() string {
	return `WITH held AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtextextended('tasker.events:' || current_schema(), ?0)))
		SELECT t.id FROM tasker_tasks t, held WHERE t.id = ?0`
}

func (dialect) IndexedBy(string) string { return "" }

func (dialect) WritableCTE() bool { return true }

func (dialect) BindArrays() bool { return true }

func (dialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

func (dialect) BindTime(t time.Time) any { return t }

func (dialect) TimeBucket(col string) string {
	return "floor((extract(epoch FROM " + col + ")::float8 - ?::float8) / ?::float8)::bigint"
}

func (dialect) BindJSON(ph string) string { return "CAST(" + ph + " AS jsonb)" }

// MaxParams is below Postgres' limit of 65,535 parameters per statement.
func (dialect) MaxParams() int { return 30000 }

// BindArgs asks pgx to prepare and cache the statement on its connection
// (the pool's default mode, exec, suits bun's formatted statements, which
// never repeat).
func (dialect) BindArgs(args []any) []any {
	return append([]any{pgx.QueryExecModeCacheStatement}, args...)
}

func (dialect) BindList(col, ph string, list any) (string, any) {
	return col + " = ANY(" + ph + ")", list
}

func (dialect) Among(col, query string) string { return col + " = ANY(ARRAY(" + query + "))" }

func (dialect) BindLimit(ph string) string { return ph }

func (dialect) JSONAgg(elems ...string) string {
	return "json_agg(json_build_array(" + strings.Join(elems, ", ") + "))"
}

func (dialect) JSONCol(col string) string { return col }

func (dialect) MapError(err error) error { return mapError(err) }

// CheckSchema reports whether the schema holds Tasker's tables at the
// version of this code's migrations (a *store.SchemaError when not, a
// connection error when the database cannot be reached): the admin API's
// readiness check.
func (s *Store) CheckSchema(ctx context.Context) error { return s.checkSchema(ctx, s.DB()) }
