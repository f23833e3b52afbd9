package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"

	"github.com/tasker-go/tasker/store/internal/bunstore"
)

// Alone reports whether the store takes itself to be the only one on its
// file (presence).
func Alone(s *Store) bool { return s.pres.alone() }

// SetPoll makes the pollers the store starts from now on look every d
// while not alone, instead of every millisecond.
func SetPoll(s *Store, d time.Duration) { s.poll = d }

// Looks is how many looks the store's TaskDone pollers (done) or its
// Wakeups poller (!done) have taken in their loops.
func Looks(s *Store, done bool) int64 {
	if done {
		return s.looks[0].Load()
	}
	return s.looks[1].Load()
}

// MigrateTo applies the embedded migrations up to version upTo (and no
// further) to the database file at path, as Open would have when those
// were all there were.
func MigrateTo(ctx context.Context, path string, upTo int) error {
	ms, err := bunstore.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	for i, m := range ms {
		if m.Version > upTo {
			ms = ms[:i]
			break
		}
	}
	sqldb, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	db := bun.NewDB(sqldb, sqlitedialect.New())
	defer db.Close()
	_, err = bunstore.Migrate(ctx, db, ms, bunstore.Snapshot{}, path, nil)
	return err
}
