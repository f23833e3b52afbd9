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
	// pg_stat_get_mod_since_analyze is what pg_stat_user_tables shows as
	// n_mod_since_analyze; the view builds its row for every table of the
	// database first (12 ms here with 2,400 tables, every 200 ms).
	err := s.DB().NewRaw(`SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relkind = 'r' AND c.relname LIKE 'tasker\_%'
			AND pg_has_role(c.relowner, 'MEMBER')
			AND (pg_relation_size(c.oid) / current_setting('block_size')::int >= greatest(2 * c.relpages, ?)
				OR pg_stat_get_mod_since_analyze(c.oid) >= greatest(c.reltuples, ?))
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
// added rows, one at a time and at most every growthCheck. Rows added
// while a refresh runs or waits its turn are looked at by the next one,
// which comes growthCheck after the last: the last rows of a burst are
// never left to the maintenance leader's next round.
type statsRefresher struct {
	mu     sync.Mutex
	last   time.Time     // when the last refresh started
	busy   bool          // a refresh is running or due
	again  bool          // rows were added since the running one started
	closed bool          // stop was called
	quit   chan struct{} // closed by stop: a due refresh is dropped
	wg     sync.WaitGroup
}

// grew notes that s added rows.
func (s *Store) grew() {
	r := &s.stats
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if r.busy {
		r.again = true
		return
	}
	if r.quit == nil {
		r.quit = make(chan struct{})
	}
	r.busy = true
	r.wg.Add(1)
	go r.run(s, growthCheck-time.Since(r.last))
}

// run refreshes after wait, and again as long as rows were added
// meanwhile.
func (r *statsRefresher) run(s *Store, wait time.Duration) {
	defer r.wg.Done()
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.quit:
				t.Stop()
				return
			}
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return
		}
		r.last, r.again = time.Now(), false
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, _ = s.RefreshStats(ctx) // best effort: the maintenance leader looks again
		cancel()
		r.mu.Lock()
		if !r.again || r.closed {
			r.busy = false
			r.mu.Unlock()
			return
		}
		wait = growthCheck - time.Since(r.last)
		r.mu.Unlock()
	}
}

// stop waits for a running refresh and starts no other.
func (r *statsRefresher) stop() {
	r.mu.Lock()
	if !r.closed && r.quit != nil {
		close(r.quit)
	}
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
