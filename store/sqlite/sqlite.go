// Package sqlite is Tasker's embedded store: modernc.org/sqlite (pure Go, no
// cgo) under bun's sqlitedialect.
//
// # Concurrency
//
// SQLite allows one writer at a time. Rather than let many connections race
// for the write lock and fail with "database is locked", every write goes
// through a single connection whose transactions begin IMMEDIATE; reads use a
// separate small pool that WAL lets run beside the writer. The engine groups
// claims and completions into batches, so one writer is not a bottleneck:
// see the package benchmarks.
//
// # Durability
//
// Journal mode is WAL (Open switches a new or existing file to it once
// migrated). Synchronous defaults to NORMAL, which in WAL mode
// never corrupts the database and may lose the last transactions on power
// loss (not on a process crash); set Options.Synchronous to "FULL" to make
// every commit durable on power loss too.
//
// # Reading only
//
// Options.ReadOnly opens an existing database the way a tool that only
// looks should: SQLite's mode=ro with query_only, no migration, no journal
// mode switch and no database file created; a file without Tasker's schema
// at this package's version is refused with a *store.SchemaError. The file
// stays byte for byte as it was. One thing is SQLite's own: to read a WAL
// database (a Tasker database is one) safely beside writers, a reader needs
// its -wal and -shm files, and SQLite creates them when no process has the
// database open; they are left for the next writer. A file in another
// journal mode (someone else's) gets none. So in a directory this process
// may not write, a read-only open of a database no writer has open is
// refused, naming the directory.
//
// # Other processes
//
// Several processes may share a file (an API process that starts and
// waits, workers that run). Each store looks for their commits by polling
// PRAGMA data_version (Wakeups, TaskDone): every millisecond while another
// store has the file open, every 10 ms while it is alone on it. To tell, a
// store that writes holds a POSIX read lock on a file beside the database,
// path + "-presence", from Open to Close (on systems without them it is
// never alone); the file is left for the next store. On Linux, a store
// that is not alone also writes a byte to that file when it creates a task
// and sets its times when a task finishes (AnnounceDone), and the others
// watch it with inotify — their claim loops for the first, their waiters
// for the second — and look at once, without waiting for their
// millisecond.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/tasker-go/tasker/internal/writable"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/internal/bunstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// schemaSnapshot is the schema the migrations produce, which a new database
// gets in one script (bunstore.Migrate); TestSchemaSnapshot keeps it equal
// to their result, and rewrites it with -update.
//
//go:embed schema.sql
var schemaSnapshot string

// Memory is the path that opens a private in-memory database (for tests).
const Memory = ":memory:"

// Options configure Open. The zero value is a good default.
type Options struct {
	// Synchronous is "NORMAL" (default) or "FULL". Memory writes to no
	// disk: setting it there is refused.
	Synchronous string
	// BusyTimeout bounds how long a connection waits for a lock held by
	// another process sharing the file (default 10 s; at least a
	// millisecond, SQLite's unit, and at most 2^31-1 of them, about 24.8
	// days). Memory is one connection that shares nothing: setting it
	// there is refused.
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool (default 4); the pollers
	// behind Wakeups and TaskDone hold one connection each on top of it.
	// Memory has none: setting it there is refused.
	ReadConns int
	// ReadOnly opens an existing file for reading only (mode=ro,
	// query_only), one this process may not write too (which Open
	// otherwise refuses, an error matching fs.ErrPermission): Open
	// creates, migrates and changes nothing, and refuses
	// a missing file (an error matching fs.ErrNotExist) and a file without
	// Tasker's schema at this package's version (a *store.SchemaError,
	// matching store.ErrNotMigrated). Writes through the store fail.
	// Synchronous does not apply: setting both is refused.
	ReadOnly bool
	// QueryHooks run around every statement the store sends through bun,
	// on the writer and the read pool (for tracing, or counting statements
	// as the bench does).
	QueryHooks []bun.QueryHook
}

// newDB is bun's DB on db with o.QueryHooks.
func (o *Options) newDB(db *sql.DB) *bun.DB {
	b := bun.NewDB(db, sqlitedialect.New())
	for _, h := range o.QueryHooks {
		b = b.WithQueryHook(h)
	}
	return b
}

func (o *Options) withDefaults() (Options, error) {
	var out Options
	if o != nil {
		out = *o
	}
	out.Synchronous = strings.ToUpper(out.Synchronous)
	switch out.Synchronous {
	case "":
		out.Synchronous = "NORMAL"
	case "NORMAL", "FULL":
	default:
		return out, fmt.Errorf("sqlite options: synchronous must be NORMAL or FULL, got %q", o.Synchronous)
	}
	if out.BusyTimeout < 0 {
		return out, fmt.Errorf("sqlite options: busy timeout must not be negative, got %s", out.BusyTimeout)
	}
	if out.ReadConns < 0 {
		return out, fmt.Errorf("sqlite options: read conns must not be negative, got %d", out.ReadConns)
	}
	if out.BusyTimeout > 0 && out.BusyTimeout < time.Millisecond {
		return out, fmt.Errorf("sqlite options: busy timeout %s is under a millisecond, which SQLite counts as none: a bare number is nanoseconds (write 10 * time.Second, not 10)", out.BusyTimeout)
	}
	// SQLite takes the milliseconds as a C int: past it, busy_timeout
	// read 0, no wait at all for another process's lock.
	if maxBusy := math.MaxInt32 * time.Millisecond; out.BusyTimeout > maxBusy {
		return out, fmt.Errorf("sqlite options: busy timeout %s is over SQLite's largest, %s", out.BusyTimeout, maxBusy)
	}
	if out.ReadOnly && o.Synchronous != "" {
		return out, fmt.Errorf("sqlite options: synchronous %q is set with read only, where it does not apply (a read-only store writes nothing): drop one", o.Synchronous)
	}
	if i := slices.Index(out.QueryHooks, nil); i >= 0 {
		return out, fmt.Errorf("sqlite options: query hook %d is nil", i)
	}
	if out.BusyTimeout == 0 {
		out.BusyTimeout = 10 * time.Second
	}
	if out.ReadConns == 0 {
		out.ReadConns = 4
	}
	return out, nil
}

// checkPath refuses a path that reads as an SQLite URI: Open takes a
// file's path and builds the URI itself, so a query after a '?' (or a
// fragment after a '#', or a "file:" scheme) would be mixed into its own,
// dropping settings silently (x.db?mode=ro opened read-write).
//
// A URL is refused too, naming what to give instead: `tasker --db` takes
// sqlite://PATH (and postgres:// URLs), and either copied here read as a
// path under a directory "sqlite:" that does not exist. So is a path with
// spaces around it, as --db refuses it: it named another file than meant,
// and one with a NUL byte.
func checkPath(path string) error {
	if path == Memory {
		return nil
	}
	if strings.TrimSpace(path) != path {
		return fmt.Errorf("opening sqlite: %q has spaces around it: write %q", path, strings.TrimSpace(path))
	}
	// SQLite reads the path up to a NUL: Open created another file.
	if strings.IndexByte(path, 0) >= 0 {
		return fmt.Errorf("opening sqlite: %q has a NUL byte, which no file's path has", path)
	}
	if scheme, rest, ok := strings.Cut(path, "://"); ok && urlScheme.MatchString(scheme) {
		switch strings.ToLower(scheme) {
		case "sqlite":
			return fmt.Errorf("opening sqlite: %q is a URL, not a file's path: give the path alone (%q)", path, rest)
		case "postgres", "postgresql":
			return fmt.Errorf("opening sqlite: %q is a URL, not a file's path: open PostgreSQL with postgres.Open", path)
		}
		return fmt.Errorf("opening sqlite: %q is a URL, not a file's path", path)
	}
	if strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		return fmt.Errorf("opening sqlite: %q is a URI, not a file's path: give the path alone and set the rest with sqlite.Options (ReadOnly, Synchronous, BusyTimeout, ReadConns)", path)
	}
	return nil
}

// urlScheme is a URL's scheme (RFC 3986).
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// fileURI is the URI of the file at path (a '%' in it escaped: SQLite
// decodes the path of a URI). A path starting "//" gets an empty
// authority before it: SQLite read "file://tmp/x.db" as host tmp.
func fileURI(path string) string {
	path = strings.ReplaceAll(path, "%", "%25")
	if strings.HasPrefix(path, "//") {
		return "file://" + path
	}
	return "file:" + path
}

// Store is a Tasker store on an SQLite file.
type Store struct {
	*bunstore.Store
	path string
	ro   *sql.DB // the read pool (nil in memory); TaskDone polls on it
	wake wakeups // other processes' commits, for the claim loop
	// watch brings other processes' signals to the pollers (changes.go;
	// nil where it cannot), started by the first of them.
	watch     *signalWatch
	watchOnce sync.Once
	poll      time.Duration // the pollers' changePoll, when not 0 (tests)
	// looks counts the pollers' looks, TaskDone's and Wakeups' (tests
	// wait for a poller's first look in its loop).
	looks [2]atomic.Int64
	// pres says whether another store has the file open (nil in memory:
	// never alone); alone, the pollers look ten times less often.
	pres *presence
	// readOnly: opened with Options.ReadOnly (no claim loop runs on it).
	readOnly bool
	// readConns is Options.ReadConns, and polling the read pool's
	// connections its pollers hold (pollerConn), on top of it.
	readConns int
	pollMu    sync.Mutex
	polling   int
}

// Open opens the database at path, creating the file when missing (but not
// its directory: a missing directory is an error naming it, and so are a
// path that is a directory and a file or directory this process may not
// write, which SQLite would open read-only, the store failing at its first
// write), applies the embedded migrations (a new database gets their
// result, schema.sql, in one script, and records each as applied) and
// switches it to WAL. Path Memory opens a private in-memory
// database. Path is a file's path: a URI (file:…, a ?query), a URL
// (sqlite://PATH, which the CLI's --db takes, or postgres://…) and a path
// with spaces around it are refused, naming what to give, and so is a
// database a newer Tasker migrated (a *store.SchemaError, Found above
// Want), which it leaves as it was. With Options.ReadOnly it does none of
// that: see there.
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("opening sqlite: the path is empty")
	}
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if path == Memory && opts != nil {
		switch {
		case opts.ReadConns != 0:
			return nil, fmt.Errorf("opening sqlite: read conns %d is set for Memory, which is one connection with no read pool: drop it, or open a file", opts.ReadConns)
		case opts.BusyTimeout != 0:
			return nil, fmt.Errorf("opening sqlite: busy timeout %s is set for Memory, whose one connection waits for no other's lock: drop it, or open a file", opts.BusyTimeout)
		case opts.Synchronous != "":
			return nil, fmt.Errorf("opening sqlite: synchronous %q is set for Memory, which writes to no disk: drop it, or open a file", opts.Synchronous)
		}
	}
	if o.ReadOnly {
		return openReadOnly(ctx, path, o)
	}
	pragmas := url.Values{}
	pragmas.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
	pragmas.Add("_pragma", "foreign_keys(1)")
	pragmas.Add("_pragma", "synchronous("+o.Synchronous+")")

	var rw, ro *sql.DB
	if path == Memory {
		// One connection: a private in-memory database lives exactly as
		// long as its connection, and there is no second reader to serve.
		name := make([]byte, 8)
		_, _ = rand.Read(name)
		rw = openDB("file:tasker-" + hex.EncodeToString(name) + "?mode=memory&" + pragmas.Encode())
		rw.SetMaxOpenConns(1)
		rw.SetConnMaxLifetime(0)
		rw.SetConnMaxIdleTime(0)
	} else {
		// A mistyped directory should fail, not grow a tree of folders
		// holding a fresh, empty database.
		dir := filepath.Dir(path)
		if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("opening sqlite %s: directory %s does not exist (%w)", path, dir, err)
		} else if err != nil {
			return nil, fmt.Errorf("opening sqlite %s: directory %s: %w", path, dir, err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("opening sqlite %s: %s is not a directory", path, dir)
		}
		// SQLite's own error would be "unable to open database file".
		fi, err := os.Stat(path)
		if err == nil && fi.IsDir() {
			return nil, fmt.Errorf("opening sqlite %s: it is a directory", path)
		}
		// SQLite opens a file it may not write read-only, without a word:
		// the store failed at its first write. It creates a missing one in
		// the directory ("unable to open database file" when it cannot).
		// (Beside an existing one it needs the -wal and -shm files, which
		// may be there already: readOnlyDir explains its error when not.)
		if err == nil {
			if err := writable.Check(path); err != nil {
				// (No word of Options.ReadOnly: the CLI printed it to
				// users who cannot set it. Its doc says it reads one.)
				return nil, fmt.Errorf("opening sqlite %s: it is not writable (%w)", path, err)
			}
		} else if err := writable.Check(dir); err != nil {
			return nil, fmt.Errorf("opening sqlite %s: directory %s is not writable, and SQLite creates the database there (%w)", path, dir, err)
		}
		wq := url.Values{}
		for k, v := range pragmas {
			wq[k] = v
		}
		wq.Set("_txlock", "immediate")
		rw = openDB(fileURI(path) + "?" + wq.Encode())
		rw.SetMaxOpenConns(1)
		rw.SetConnMaxIdleTime(0)
		rw.SetConnMaxLifetime(0)
		rq := url.Values{}
		for k, v := range pragmas {
			rq[k] = v
		}
		rq.Add("_pragma", "query_only(1)")
		ro = openDB(fileURI(path) + "?" + rq.Encode())
		ro.SetMaxOpenConns(o.ReadConns)
		ro.SetMaxIdleConns(o.ReadConns)
	}
	closeAll := func() error {
		err := rw.Close()
		if ro != nil {
			err = errors.Join(err, ro.Close())
		}
		return err
	}
	rwDB := o.newDB(rw)
	// The writer must exist before readers touch the file, so the schema
	// (and WAL mode) are in place first. WAL comes after the migrations:
	// the switch rewrites the file's header, and a refused open (someone
	// else's file with a table named as one of Tasker's, a newer schema)
	// must leave the file as it was.
	migrations, err := bunstore.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		closeAll()
		return nil, err
	}
	snapshot, err := bunstore.ParseSnapshot(schemaSnapshot)
	if err != nil {
		closeAll()
		return nil, err
	}
	if _, err := bunstore.Migrate(ctx, rwDB, migrations, snapshot, path, nil); err != nil {
		closeAll()
		if se := (*store.SchemaError)(nil); errors.As(err, &se) {
			return nil, err // it names the file
		}
		if err := readOnlyDir(path, err); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("migrating %s: %w", path, mapError(err))
	}
	if ro != nil {
		if _, err := rwDB.ExecContext(ctx, "PRAGMA journal_mode = WAL"); err != nil {
			closeAll()
			return nil, fmt.Errorf("opening sqlite %s: switching to WAL: %w", path, mapError(err))
		}
	}
	var roDB *bun.DB
	if ro != nil {
		roDB = o.newDB(ro)
	}
	bs := bunstore.New(rwDB, roDB, dialect{}, closeAll)
	bs.SetQueryHooks(o.QueryHooks)
	st := &Store{Store: bs, path: path, ro: ro, readConns: o.ReadConns}
	if ro != nil {
		st.pres = openPresence(path)
	}
	return st, nil
}

// openReadOnly is Open with Options.ReadOnly.
func openReadOnly(ctx context.Context, path string, o Options) (*Store, error) {
	if path == Memory {
		return nil, errors.New("opening sqlite read-only: a private in-memory database would be empty")
	}
	// mode=ro does not create the file, but its error would not say why.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("opening sqlite %s: it is a directory", path)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "query_only(1)")
	ro, err := sql.Open("sqlite", fileURI(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening sqlite %s read-only: %w", path, err)
	}
	ro.SetMaxOpenConns(o.ReadConns)
	ro.SetMaxIdleConns(o.ReadConns)
	db := o.newDB(ro)
	if err := checkSchema(ctx, db, path); err != nil {
		ro.Close()
		return nil, err
	}
	bs := bunstore.New(db, nil, dialect{}, ro.Close)
	bs.SetQueryHooks(o.QueryHooks) // for its bound statements, as Open's
	return &Store{Store: bs, path: path, readOnly: true}, nil
}

// checkSchema refuses a database without Tasker's schema at the version
// of the embedded migrations.
func checkSchema(ctx context.Context, db *bun.DB, path string) error {
	migrations, err := bunstore.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	var n int
	err = db.NewRaw("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tasker_schema_migrations'").Scan(ctx, &n)
	var se *sqlite3.Error
	if errors.As(err, &se) && se.Code() == sqlite3lib.SQLITE_NOTADB {
		return fmt.Errorf("opening sqlite %s: it is not an SQLite database: %w", path, err)
	}
	if err := readOnlyDir(path, err); err != nil {
		return err
	}
	if err != nil {
		return fmt.Errorf("opening sqlite %s: %w", path, mapError(err))
	}
	if n == 0 {
		return &store.SchemaError{Database: path, Want: bunstore.LastVersion(migrations)}
	}
	return bunstore.CheckVersion(ctx, db, migrations, path)
}

// readOnlyDir is err in words naming the directory of path when it is
// SQLite's SQLITE_READONLY_DIRECTORY, nil otherwise: SQLite's own, "attempt
// to write a readonly database", was the error of a read-only open too.
func readOnlyDir(path string, err error) error {
	var se *sqlite3.Error
	if !errors.As(err, &se) || se.Code() != sqlite3lib.SQLITE_READONLY_DIRECTORY {
		return nil
	}
	return fmt.Errorf("opening sqlite %s: directory %s is not writable, and SQLite creates the database's -wal and -shm files there, to read it as to write it (%w)", path, filepath.Dir(path), err)
}

// Path is the database file (Memory for an in-memory store).
func (s *Store) Path() string { return s.path }

// ReadStats returns the statistics of the read pool, which serves the
// store's reads beside DB's one writing connection (DB().Stats()); false
// for a store without one (Memory, and ReadOnly, whose one pool is DB's).
// Its connections in use include those TaskDone's and Wakeups' pollers
// hold while they run.
func (s *Store) ReadStats() (sql.DBStats, bool) {
	if s.ro == nil {
		return sql.DBStats{}, false
	}
	return s.ro.Stats(), true
}

// SchemaVersion is the highest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return bunstore.SchemaVersion(ctx, s.DB())
}

type dialect struct{}

func (dialect) Capabilities() store.Capabilities {
	return store.Capabilities{Dialect: "sqlite", SingleWriter: true}
}

func (dialect) Time(t time.Time, offset time.Duration) any {
	if t.IsZero() {
		t = time.Now()
	}
	return t.Add(offset).UTC()
}

func (dialect) JSON(doc store.JSON) any { return doc }

func (dialect) SkipLocked() string { return "" }

func (dialect) LockRows() string { return "" }

func (dialect) LockTask() string { return "SELECT id FROM tasker_tasks WHERE id = ?0" }

func (dialect) IndexedBy(index string) string { return " INDEXED BY " + index }

func (dialect) WritableCTE() bool { return false }

func (dialect) BindArrays() bool { return false }

func (dialect) Placeholder(n int) string { return "?" + strconv.Itoa(n) }

// BindArgs passes the arguments as they are: the store's connections keep
// bound statements prepared (stmtcache.go).
func (dialect) BindArgs(args []any) []any { return args }

func (dialect) BindJSON(ph string) string { return ph }

// MaxParams is small: modernc binds each parameter after a linear search
// of the statement's parameter names, so a statement's cost grows with the
// square of its parameters; a few hundred balance that against the cost
// of one more statement.
func (dialect) MaxParams() int { return 400 }

// BindTime formats t as bun writes times, so text comparisons agree.
// TimeBucket reads the stored text time with julianday (microseconds are
// kept); a time a hair before the origin truncates to interval 0, which
// the caller's range check allows for.
func (dialect) TimeBucket(col string) string {
	return "CAST(((julianday(" + col + ") - 2440587.5) * 86400.0 - ?) / ? AS INTEGER)"
}

func (dialect) BindTime(t time.Time) any {
	return strings.Trim(string(bunDialect.AppendTime(nil, t)), "'")
}

func (dialect) BindList(col, ph string, list any) (string, any) {
	doc, _ := json.Marshal(list)
	return col + " IN (SELECT value FROM json_each(" + ph + "))", string(doc)
}

// bunDialect formats values as the store's bun.DB does.
var bunDialect = sqlitedialect.New()

func (dialect) Among(col, query string) string { return col + " IN (" + query + ")" }

func (dialect) BindLimit(ph string) string { return "+" + ph }

func (dialect) JSONAgg(elems ...string) string {
	return "json_group_array(json_array(" + strings.Join(elems, ", ") + "))"
}

func (dialect) JSONCol(col string) string { return "json(" + col + ")" }

func (dialect) MapError(err error) error { return mapError(err) }

func mapError(err error) error {
	var se *sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3lib.SQLITE_CONSTRAINT_UNIQUE, sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	case sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED:
		return fmt.Errorf("%w: %w", store.ErrRetryable, err)
	}
	return err
}

// CheckSchema reports whether the database holds Tasker's schema at the
// version of this code's migrations (a *store.SchemaError when not): the
// admin API's readiness check.
func (s *Store) CheckSchema(ctx context.Context) error { return checkSchema(ctx, s.DB(), s.path) }
