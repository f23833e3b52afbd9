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
// Journal mode is WAL. Synchronous defaults to NORMAL, which in WAL mode
// never corrupts the database and may lose the last transactions on power
// loss (not on a process crash); set Options.Synchronous to "FULL" to make
// every commit durable on power loss too.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/internal/bunstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Memory is the path that opens a private in-memory database (for tests).
const Memory = ":memory:"

// Options configure Open. The zero value is a good default.
type Options struct {
	// Synchronous is "NORMAL" (default) or "FULL".
	Synchronous string
	// BusyTimeout bounds how long a connection waits for a lock held by
	// another process sharing the file (default 10 s).
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
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
	if out.BusyTimeout < 0 || out.ReadConns < 0 {
		return out, fmt.Errorf("sqlite options: busy timeout and read conns must not be negative")
	}
	if out.BusyTimeout == 0 {
		out.BusyTimeout = 10 * time.Second
	}
	if out.ReadConns == 0 {
		out.ReadConns = 4
	}
	return out, nil
}

// Store is a Tasker store on an SQLite file.
type Store struct {
	*bunstore.Store
	path string
}

// Open opens (creating if needed) the database at path and applies the
// embedded migrations. Path Memory opens a private in-memory database.
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
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
		rw, err = sql.Open("sqlite", "file:tasker-"+hex.EncodeToString(name)+"?mode=memory&"+pragmas.Encode())
		if err != nil {
			return nil, fmt.Errorf("opening in-memory sqlite: %w", err)
		}
		rw.SetMaxOpenConns(1)
		rw.SetConnMaxLifetime(0)
		rw.SetConnMaxIdleTime(0)
	} else {
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("creating directory for %s: %w", path, err)
			}
		}
		pragmas.Add("_pragma", "journal_mode(WAL)")
		wq := url.Values{}
		for k, v := range pragmas {
			wq[k] = v
		}
		wq.Set("_txlock", "immediate")
		rw, err = sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
		if err != nil {
			return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
		}
		rw.SetMaxOpenConns(1)
		rw.SetConnMaxIdleTime(0)
		rw.SetConnMaxLifetime(0)
		rq := url.Values{}
		for k, v := range pragmas {
			rq[k] = v
		}
		rq.Add("_pragma", "query_only(1)")
		ro, err = sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
		if err != nil {
			rw.Close()
			return nil, fmt.Errorf("opening sqlite %s for reading: %w", path, err)
		}
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
	rwDB := bun.NewDB(rw, sqlitedialect.New())
	// The writer must exist before readers touch the file, so the schema
	// (and WAL mode) are in place first.
	migrations, err := bunstore.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		closeAll()
		return nil, err
	}
	if _, err := bunstore.Migrate(ctx, rwDB, migrations, nil); err != nil {
		closeAll()
		return nil, fmt.Errorf("migrating %s: %w", path, mapError(err))
	}
	var roDB *bun.DB
	if ro != nil {
		roDB = bun.NewDB(ro, sqlitedialect.New())
	}
	return &Store{Store: bunstore.New(rwDB, roDB, dialect{}, closeAll), path: path}, nil
}

// Path is the database file (Memory for an in-memory store).
func (s *Store) Path() string { return s.path }

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
