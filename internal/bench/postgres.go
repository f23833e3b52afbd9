package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-go/tasker/internal/bench/ceiling"
	"github.com/tasker-go/tasker/internal/pgdsn"
	"github.com/tasker-go/tasker/store/postgres"
)

// parseProcs parses --procs: a comma-separated list of process counts.
func parseProcs(list string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 64 {
			return nil, fmt.Errorf("--procs: %q is not a process count from 1 to 64", f)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("--procs: %d is named twice (each workload would run twice with it)", n)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("--procs names no process count")
	}
	return out, nil
}

// benchSchemaName is a fresh, random schema name.
func benchSchemaName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "tasker_bench_" + hex.EncodeToString(b)
}

// dropSchema drops a bench schema and everything in it, on a connection of
// its own (the stores using it are closed by now).
func dropSchema(ctx context.Context, dsn, schema string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("dropping schema %s: %w", schema, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("dropping schema %s: %w", schema, err)
	}
	return nil
}

// serverSettings reads what the header reports about the server.
func serverSettings(ctx context.Context, dsn string) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var parts []string
	for _, name := range []string{"server_version", "synchronous_commit", "fsync", "max_connections"} {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			return "", err
		}
		parts = append(parts, name+" "+v)
	}
	return strings.Join(parts, ", "), nil
}

func runPostgresBench(ctx context.Context, out io.Writer, o Options, chosen []workload) error {
	procs, err := parseProcs(o.Procs)
	if err != nil {
		return err
	}
	var procNames []string
	for _, p := range procs {
		procNames = append(procNames, strconv.Itoa(p))
	}
	u, err := url.Parse(o.DB)
	if err != nil {
		return fmt.Errorf("postgres URL: %w", err)
	}
	u.RawQuery = pgdsn.Without(u.RawQuery, "schema") // every run gets a schema of its own
	dsn := u.String()
	settings, err := serverSettings(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connecting to %s%s: %w", u.Host, u.Path, err)
	}
	fmt.Fprintf(out, "tasker bench: scale %g, %s %s/%s, GOMAXPROCS %d, PostgreSQL %s%s, a fresh schema per run (dropped afterwards)\n",
		o.Scale, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), u.Host, u.Path)
	fmt.Fprintf(out, "server: %s\n", settings)
	fmt.Fprintf(out, "engine: MaxConcurrency 256, BatchSize 256, retry backoff 1-2 ms; pool MaxConns %d per process; processes %s\n",
		postgres.DefaultMaxConns, strings.Join(procNames, ","))

	n := scaled(5000, o.Scale)
	ceil, err := rawCommitRatePG(ctx, dsn, n)
	if err != nil {
		return fmt.Errorf("raw commit rate: %w", err)
	}

	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nWORKLOAD\tPROCS\tWHAT\tITEMS\tWALL\tRATE\tCOMPLETE\tCLAIM TX/STEP\tFINISH TX/STEP\tSQL/STEP\tALLOCS/STEP\tPEAK CONNS\tNOTES")
	var failed []string
	done := map[string]*benchResult{}
	for _, wl := range chosen {
		for k, p := range procs {
			tg := &benchTarget{pgURL: dsn, schema: benchSchemaName(), procs: p, peers: o.PeersSizes}
			if wl.name == "W5x" { // one starter and one worker process, whatever --procs says
				if k > 0 {
					break
				}
				tg.procs, p = 1, 1
			}
			r, err := wl.run(ctx, tg, o.Scale)
			err = errors.Join(err, dropSchema(ctx, dsn, tg.schema))
			if err != nil {
				fmt.Fprintf(w, "%s\t%d\t%s\tFAILED: %v\n", wl.name, p, wl.what, err)
				failed = append(failed, fmt.Sprintf("%s with %d process(es): %v", wl.name, p, err))
				if ctx.Err() != nil {
					break
				}
				continue
			}
			done[fmt.Sprintf("%s@%d", wl.name, p)] = r
			per := r.per
			fmt.Fprintf(w, "%s\t%d\t%s\t%d %s\t%s\t%.0f %s/s\t%d/%d\t%s\t%s\t%s\t%.0f\t%d\t%s\n",
				wl.name, p, wl.what, r.items, r.unit, r.wall.Round(time.Millisecond), float64(r.items)/r.wall.Seconds(), r.unit,
				r.complete, r.tasks, per(float64(r.claimTx)), per(float64(r.finishTx)), per(float64(r.sql)),
				float64(r.mallocs)/float64(max(r.perStep(), 1)), r.peakConn, strings.TrimPrefix(r.note, "; "))
			if r.complete != r.tasks {
				failed = append(failed, fmt.Sprintf("%s with %d process(es): only %d of %d workflows complete", wl.name, p, r.complete, r.tasks))
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nceiling: %.0f commits/s from 1 connection (%d one-row INSERT transactions, BEGIN/INSERT/COMMIT through store.DB()); %.0f commits/s from %d goroutines (%d transactions)\n",
		ceil.one.PerSecond, ceil.one.Commits, ceil.many.PerSecond, ceil.many.Goroutines, ceil.many.Commits)
	fmt.Fprintln(out, "per step = per step attempt (claims; per durable step for code-first rows), summed over the worker processes; SQL counts every statement bun runs on the engine's pool")
	fmt.Fprintln(out, "(the wake-up LISTEN/NOTIFY connection is not counted); PEAK CONNS = most pool connections open at once in one process, sampled every 50 ms")
	for _, p := range procs {
		printCodeFirstRatios(out, fmt.Sprintf("@%d", p), done)
	}
	fmt.Fprintln(out, "PROCS > 1: the bench process starts the workflows, then spawns `tasker bench-worker` processes; WALL runs from the spawn until the last workflow finishes")
	if len(failed) > 0 {
		return fmt.Errorf("bench failed: %s", strings.Join(failed, "; "))
	}
	fmt.Fprintln(out, "every workload complete")
	return nil
}

type pgCeiling struct{ one, many ceiling.Rate }

// rawCommitRatePG measures one-row INSERT commits per second on a scratch
// table in a schema of its own: n from one connection, then n from 8
// goroutines at once (each on its own pool connection).
func rawCommitRatePG(ctx context.Context, dsn string, n int) (c pgCeiling, err error) {
	schema := benchSchemaName()
	defer func() { err = errors.Join(err, dropSchema(ctx, dsn, schema)) }()
	st, err := postgres.Open(ctx, dsn, &postgres.Options{Schema: schema})
	if err != nil {
		return c, err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	if err := ceiling.CreateTable(ctx, st.DB()); err != nil {
		return c, err
	}
	if c.one, err = ceiling.Measure(ctx, st.DB(), n, 1); err != nil {
		return c, err
	}
	c.many, err = ceiling.Measure(ctx, st.DB(), n, min(8, postgres.DefaultMaxConns))
	return c, err
}

// poolPeak is the most connections a pool held at once.
type poolPeak struct {
	Open, Acquired int32
}

// poolSampler samples a store's pool every 50 ms until stopped.
type poolSampler struct {
	done   chan struct{}
	result chan poolPeak
}

func newPoolSampler(st *postgres.Store) *poolSampler {
	p := &poolSampler{done: make(chan struct{}), result: make(chan poolPeak, 1)}
	go func() {
		var peak poolPeak
		sample := func() {
			s := st.Stats()
			peak.Open = max(peak.Open, s.TotalConns)
			peak.Acquired = max(peak.Acquired, s.AcquiredConns)
		}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-tick.C:
			case <-p.done:
				sample()
				p.result <- peak
				return
			}
		}
	}()
	return p
}

// stop ends the sampling and returns the peak (zero for a nil sampler:
// SQLite).
func (p *poolSampler) stop() poolPeak {
	if p == nil {
		return poolPeak{}
	}
	close(p.done)
	return <-p.result
}

// addWorkers replaces the counters of a result with the sums over the
// worker processes (the bench process only started and waited).
func (r *benchResult) addWorkers(ws []workerStats) {
	r.attempts, r.retried, r.claimTx, r.finishTx, r.sql, r.mallocs, r.peakConn = 0, 0, 0, 0, 0, 0, 0
	var waits int64
	var peaks []string
	for _, s := range ws {
		r.attempts += s.Claimed
		r.retried += s.Retried
		r.claimTx += s.ClaimTx
		r.finishTx += s.FinishTx
		r.sql += s.SQL
		r.mallocs += s.Mallocs
		r.peakConn = max(r.peakConn, s.PeakConns)
		waits += s.PoolWaits
		peaks = append(peaks, strconv.Itoa(int(s.PeakConns)))
	}
	r.procs = len(ws)
	r.note += fmt.Sprintf("; peak conns per process %s, %d pool waits", strings.Join(peaks, "/"), waits)
}

// upFrontProcs runs workflows already started (and tracked by r) on
// tg.procs worker processes, from their spawn until the last one finishes.
func upFrontProcs(ctx context.Context, tg *benchTarget, r *rig, name string, items int, unit string) (*benchResult, error) {
	_, _, n := r.tr.Counts()
	began := time.Now()
	ws, err := spawnWorkers(ctx, tg, name)
	if err != nil {
		return nil, err
	}
	// Poll the store: completions in other processes notify no one here.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		counts, err := r.st.CountByState(ctx)
		if err != nil {
			_, _ = ws.stop()
			return nil, err
		}
		done := 0
		for s, c := range counts.Tasks {
			if s.Done() {
				done += c
			}
		}
		if done >= n {
			break
		}
		select {
		case <-tick.C:
		case <-ws.exited:
			_, err := ws.stop()
			return nil, fmt.Errorf("a worker process exited before the workflows finished: %w", err)
		case <-ctx.Done():
			_, _ = ws.stop()
			return nil, ctx.Err()
		}
	}
	wall := time.Since(began)
	stats, err := ws.stop()
	if err != nil {
		return nil, err
	}
	res := &benchResult{items: items, unit: unit, wall: wall, tasks: n}
	res.note = fmt.Sprintf("; workers ready after %s", ws.readyAfter().Round(time.Millisecond))
	res.addWorkers(stats)
	return res, nil
}
