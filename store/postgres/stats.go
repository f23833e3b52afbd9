package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-go/tasker/store"
)

// The store's hot statements are prepared on each connection with one
// generic plan (see Open), made for the tables' sizes as their statistics
// gave them. A table that grows far beyond them keeps plans that scan it
// whole until its statistics change: with plans made for empty tables, a
// 3-step chain took 7.9 ms instead of 4.0 ms once 9,000 steps had been
// added, and 140 ms after 300,000 — until autovacuum's next round, a
// minute away by default. ANALYZE updates the statistics, and Postgres then
// plans the statements again (on every connection).

// minStatsPages and minStaleRows bound what RefreshStats analyzes: a
// table of 8 pages or more whose size has doubled, or one whose rows
// changed by 1,000 or more since, and by more than it then held. Smaller
// ones cost little whatever their plan, and autovacuum looks after them.
const (
	minStatsPages = 8
	minStaleRows  = 1000
)

// growthCheck is how often, at most, a store that adds rows looks for
// tables that outgrew their statistics.
const growthCheck = 200 * time.Millisecond

// RefreshStats analyzes the store's tables whose size on disk has at
// least doubled since their statistics were taken (and is 8 pages or
// more), or whose rows changed by more than the statistics counted (and
// by 1,000 or more), and returns their names. The sizes are the files'
// own, so a table is seen as it grows, without waiting for the statistics
// collector; the count of changes, which lags by a second or so, catches
// a table analyzed while rows were being added to it (rows not committed
// yet are not counted). The store calls it in the background as it adds rows (at
// most every 200 ms) and the engine's maintenance leader every
// RescueInterval (for tables other processes grew). Tables the store's
// role does not own (migrated by another role) are left to autovacuum:
// Postgres would refuse to analyze them, with a warning in its log.
func (s *Store) RefreshStats(ctx context.Context) ([]string, error) {
	var grown []string
	err := s.DB().NewRaw(`SELECT c.relname FROM pg_class c LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid
		WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relkind = 'r' AND c.relname LIKE 'tasker\_%'
			AND pg_has_role(c.relowner, 'MEMBER')
			AND (pg_relation_size(c.oid) / current_setting('block_size')::int >= greatest(2 * c.relpages, ?)
				OR coalesce(st.n_mod_since_analyze, 0) >= greatest(c.reltuples, ?))
		ORDER BY c.relname`, minStatsPages, minStaleRows).Scan(ctx, &grown)
	if err != nil {
		return nil, fmt.Errorf("finding tables to analyze: %w", err)
	}
	for _, t := range grown {
		if _, err := s.DB().ExecContext(ctx, "ANALYZE "+pgx.Identifier{t}.Sanitize()); err != nil {
			return nil, fmt.Errorf("analyzing %s: %w", t, err)
		}
	}
	return grown, nil
}

// statsRefresher runs RefreshStats in the background after the store
// added rows, one at a time and at most every growthCheck.
type statsRefresher struct {
	mu      sync.Mutex
	last    time.Time
	running bool
	closed  bool
	wg      sync.WaitGroup
}

// grew notes that s added rows.
func (s *Store) grew() {
	r := &s.stats
	now := time.Now()
	r.mu.Lock()
	if r.closed || r.running || now.Sub(r.last) < growthCheck {
		r.mu.Unlock()
		return
	}
	r.running, r.last = true, now
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = s.RefreshStats(ctx) // best effort: the maintenance leader looks again
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
}

// stop waits for a running refresh and starts no other.
func (r *statsRefresher) stop() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
}

// CreateTask is bunstore's, and looks for tables grown past their
// statistics (grew).
func (s *Store) CreateTask(ctx context.Context, p *store.CreateTaskParams) (*store.CreateTaskResult, error) {
	res, err := s.Store.CreateTask(ctx, p)
	if err == nil {
		s.grew()
	}
	return res, err
}

// CreateTasks is bunstore's, and looks for tables grown past their
// statistics (grew).
func (s *Store) CreateTasks(ctx context.Context, ps []*store.CreateTaskParams) ([]store.CreateTasksItem, error) {
	items, err := s.Store.CreateTasks(ctx, ps)
	if err == nil {
		s.grew()
	}
	return items, err
}

// RecordAttempts is bunstore's, and looks for tables grown past their
// statistics (grew).
func (s *Store) RecordAttempts(ctx context.Context, steps []*store.RecordStepParams) ([]store.RecordedStep, error) {
	out, err := s.Store.RecordAttempts(ctx, steps)
	if err == nil {
		s.grew()
	}
	return out, err
}
