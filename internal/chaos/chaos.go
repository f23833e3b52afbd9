package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-go/tasker/internal/pgdsn"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
)

// Options choose what Run runs.
type Options struct {
	// DB is "sqlite" (SQLite files in a temporary directory) or a
	// postgres:// URL (a fresh schema per scenario, dropped afterwards);
	// an empty one is refused.
	DB string
	// Quick runs small workloads (seconds, for CI); the full form runs
	// hundreds of workflows per scenario.
	Quick bool
	// Only, when set, runs the scenarios whose names contain it.
	Only string
	// Soak, when set, runs the soak alone for that long (see docs/chaos.md).
	Soak time.Duration
}

// minSoak is the shortest Options.Soak.
const minSoak = time.Second

// Row is one scenario's result.
type Row struct {
	Scenario          string
	Database          string
	Workflows         int
	Lost              int
	DoubleCompletions int
	StaleRefused      int
	Recovery          time.Duration
	Problems          []string
	// Notes are figures that do not fit the table (printed after it).
	Notes []string
}

// OK reports whether the scenario kept every invariant.
func (r Row) OK() bool { return r.Lost == 0 && r.DoubleCompletions == 0 && len(r.Problems) == 0 }

// Run runs the scenarios (a few at once), prints the table to out once
// the last has finished (its columns are aligned over every row), and
// returns the rows. It fails when a scenario could not run or broke an
// invariant.
func Run(ctx context.Context, out io.Writer, o Options) ([]Row, error) {
	if o.Soak < 0 {
		return nil, fmt.Errorf("--soak: %s is negative", o.Soak)
	}
	// The soak kills a worker every quarter of it: under a second (a
	// duration of 3ns had its ticker panic) it measures nothing.
	if o.Soak > 0 && o.Soak < minSoak {
		return nil, fmt.Errorf("--soak: %s is under %s: the soak kills a worker every quarter of its length (say 15m)", o.Soak, minSoak)
	}
	if o.Soak > 0 && o.Only != "" {
		return nil, fmt.Errorf("--only %q and --soak: the soak runs alone, give one", o.Only)
	}
	if o.Soak > 0 && o.Quick {
		return nil, errors.New("--quick and --soak: the soak's size is its --soak length, and --quick would do nothing; give one")
	}
	tg, err := newTarget(o.DB)
	if err != nil {
		return nil, err
	}
	defer tg.close()
	var chosen []scenario
	var names []string // the scenarios this database runs
	for _, sc := range scenarios() {
		if sc.only == "" || sc.only == tg.kind {
			names = append(names, sc.name)
			if o.Only == "" || strings.Contains(sc.name, o.Only) {
				chosen = append(chosen, sc)
			}
		}
	}
	if o.Soak > 0 {
		chosen = []scenario{soakScenario(o.Soak)}
	}
	// A misspelt --only would run nothing and pass.
	if len(chosen) == 0 {
		return nil, fmt.Errorf("--only %q: no scenario on %s has it in its name (they are: %s)", o.Only, tg.kind, strings.Join(names, ", "))
	}
	// Each scenario has a database of its own: a few run at once (two on
	// SQLite, whose single writer they would only queue on).
	rows := make([]Row, len(chosen))
	sem := make(chan struct{}, 4)
	if tg.kind == "sqlite" {
		sem = make(chan struct{}, 2)
	}
	var wg sync.WaitGroup
	for i, sc := range chosen {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rows[i] = tg.runScenario(ctx, sc, o.Quick)
		})
	}
	wg.Wait()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tDATABASE\tWORKFLOWS\tLOST\tDOUBLE COMPLETIONS\tSTALE WRITES REFUSED\tRECOVERY")
	var failed []string
	for _, r := range rows {
		recovery := "-"
		if r.Recovery > 0 {
			recovery = r.Recovery.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Scenario, r.Database, r.Workflows, r.Lost, r.DoubleCompletions, r.StaleRefused, recovery)
		if !r.OK() {
			failed = append(failed, fmt.Sprintf("%s: %s", r.Scenario, strings.Join(r.Problems, "; ")))
		}
	}
	if err := tw.Flush(); err != nil {
		return rows, err
	}
	for _, r := range rows {
		for _, n := range r.Notes {
			fmt.Fprintf(out, "%s (%s): %s\n", r.Scenario, r.Database, n)
		}
	}
	if len(failed) > 0 {
		return rows, fmt.Errorf("chaos: %d scenarios broke an invariant:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return rows, nil
}

// runScenario runs sc on databases of its own and returns its row.
func (tg *target) runScenario(ctx context.Context, sc scenario, quick bool) Row {
	o := tg.fresh()
	r, err := sc.run(ctx, o, quick)
	r.Scenario, r.Database = sc.name, tg.kind
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	// Counted here, on every database the scenario opened, rather than by
	// each scenario: a scenario that forgot printed 0, unchecked.
	n, err := o.doubleCompletions(ctx)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("counting double completions: %v", err))
	}
	r.DoubleCompletions = max(r.DoubleCompletions, n)
	return r
}

// target opens a fresh store per scenario.
type target struct {
	kind string // "sqlite" or "postgres"
	dir  string // SQLite: the temporary directory
	dsn  string // PostgreSQL: the URL without ?schema=

	mu    sync.Mutex
	drops []string
	n     int
	used  map[int][]place // the databases each scenario (opener.id) opened
}

func newTarget(db string) (*target, error) {
	switch {
	case strings.TrimSpace(db) == "":
		return nil, errors.New(`--db is empty: give "sqlite" or a postgres:// URL`)
	case db == "sqlite":
		dir, err := os.MkdirTemp("", "tasker-chaos-")
		if err != nil {
			return nil, err
		}
		return &target{kind: "sqlite", dir: dir}, nil
	case strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://"):
		u, err := url.Parse(db)
		if err != nil {
			return nil, fmt.Errorf("--db: %w", err)
		}
		u.RawQuery = pgdsn.Without(u.RawQuery, "schema") // every scenario gets a schema of its own
		return &target{kind: "postgres", dsn: u.String()}, nil
	}
	return nil, fmt.Errorf(`--db: %q is neither "sqlite" nor a postgres:// URL`, db)
}

// opener opens the fresh stores of one scenario.
type opener struct {
	tg *target
	id int // the key of the scenario's databases in tg.used
}

func (tg *target) fresh() opener {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.n++
	return opener{tg: tg, id: tg.n}
}

// use records p as one of the scenario's databases; tg.mu is held.
func (o opener) use(p place) {
	if o.tg.used == nil {
		o.tg.used = map[int][]place{}
	}
	o.tg.used[o.id] = append(o.tg.used[o.id], p)
}

// doubleCompletions counts the steps with two moves to complete in every
// database the scenario opened.
func (o opener) doubleCompletions(ctx context.Context) (int, error) {
	o.tg.mu.Lock()
	places := o.tg.used[o.id]
	o.tg.mu.Unlock()
	total := 0
	for _, p := range places {
		s, err := p.open(ctx, 0)
		if err != nil {
			return total, err
		}
		n, err := doubleCompletions(ctx, s)
		s.Close()
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// open returns a fresh, empty store.
func (o opener) open(ctx context.Context) (store.Store, error) {
	tg := o.tg
	tg.mu.Lock()
	tg.n++
	n := tg.n
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "tasker_chaos_" + hex.EncodeToString(b)
	file := filepath.Join(tg.dir, fmt.Sprintf("chaos-%d.db", n))
	if tg.kind == "postgres" {
		tg.drops = append(tg.drops, schema)
		o.use(place{Postgres: tg.dsn, Schema: schema})
	} else {
		o.use(place{SQLite: file})
	}
	tg.mu.Unlock()
	if tg.kind == "sqlite" {
		return sqlite.Open(ctx, file, nil)
	}
	return postgres.Open(ctx, tg.dsn, &postgres.Options{Schema: schema})
}

// close removes what the scenarios left: the directory, the schemas.
func (tg *target) close() {
	if tg.dir != "" {
		_ = os.RemoveAll(tg.dir)
	}
	if len(tg.drops) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, tg.dsn)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	for _, s := range tg.drops {
		_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE")
	}
}
