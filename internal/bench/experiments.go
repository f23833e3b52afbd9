package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/postgres"
)

// expRow is one line of the experiments' table: the plan's claim, its
// number, what was measured, and whether the claim holds.
type expRow struct {
	id, db, claim, plan, measured, holds string
}

// holds words a verdict.
func holds(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// loadAvg is the machine's load (the first line of /proc/loadavg, where
// there is one).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// RunExperiments runs the original plan's claims against the engine (issue
// 14's scoreboard) and prints one table: SQLite rows always (in a temporary
// directory), PostgreSQL rows when o.DB is a postgres:// URL (each run in a
// fresh schema, dropped afterwards).
func RunExperiments(ctx context.Context, out io.Writer, o Options) error {
	if err := checkScale(o.Scale); err != nil {
		return err
	}
	for f := range strings.SplitSeq(o.Only, ",") {
		switch strings.ToUpper(strings.TrimSpace(f)) {
		case "E1", "E2", "E3", "E4", "E5", "E6", "E7":
		default:
			if o.Only != "" {
				return fmt.Errorf("--only: %q is not an experiment (E1 to E7)", strings.TrimSpace(f))
			}
		}
	}
	dir, err := os.MkdirTemp("", "tasker-experiments-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pg := ""
	if strings.HasPrefix(o.DB, "postgres://") || strings.HasPrefix(o.DB, "postgresql://") {
		pg = pgDSN(o.DB)
	}
	fmt.Fprintf(out, "tasker bench --experiments: scale %g, %s %s/%s, GOMAXPROCS %d, load at start %s\n",
		o.Scale, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), loadAvg())
	want := func(id string) bool {
		if o.Only == "" {
			return true
		}
		for f := range strings.SplitSeq(o.Only, ",") {
			if strings.EqualFold(strings.TrimSpace(f), id) {
				return true
			}
		}
		return false
	}
	var rows []expRow
	var failed []string
	add := func(r []expRow, err error, what string) {
		fmt.Fprintf(out, "%s done at %s, load %s\n", what, time.Now().UTC().Format("15:04:05"), loadAvg())
		rows = append(rows, r...)
		if err != nil {
			failed = append(failed, what+": "+err.Error())
			rows = append(rows, expRow{what, "", "", "", "FAILED: " + err.Error(), "-"})
		}
	}
	sqlite := func(name string) *benchTarget {
		return &benchTarget{sqlitePath: filepath.Join(dir, name+".db")}
	}
	postgresTarget := func() *benchTarget { return &benchTarget{pgURL: pg, schema: benchSchemaName(), procs: 1} }
	dropped := func(tg *benchTarget) error {
		if tg.pgURL == "" {
			return nil
		}
		return dropSchema(ctx, pg, tg.schema)
	}
	notPG := func(id, claim string) expRow {
		return expRow{id, "postgres", claim, "", "not measured: no --db postgres://… given", "-"}
	}

	// E1: dynamic concurrency, I/O-bound steps, a pool of 10.
	switch {
	case !want("E1"):
	case pg != "":
		r, err := experimentE1(ctx, o.Scale, postgresTarget, dropped)
		add(r, err, "E1")
	default:
		rows = append(rows, notPG("E1", "dynamic concurrency vs fixed 3 (I/O-bound)"))
	}
	switch {
	case !want("E2"):
	case pg != "":
		r, err := experimentE2(ctx, o.Scale, pg)
		add(r, err, "E2")
	default:
		rows = append(rows, notPG("E2", "three workers sharing a small pool"))
	}

	// E3: adaptive batching on W1 and W2.
	for _, db := range []string{"sqlite", "postgres"} {
		if !want("E3") {
			break
		}
		if db == "postgres" && pg == "" {
			rows = append(rows, notPG("E3", "adaptive vs fixed batch size"))
			continue
		}
		r, err := experimentE3(ctx, o.Scale, db, func(name string) *benchTarget {
			if db == "sqlite" {
				return sqlite(name)
			}
			return postgresTarget()
		}, dropped)
		add(r, err, "E3 "+db)
	}
	// E4: predictive retry against a flaky dependency.
	for _, db := range []string{"sqlite", "postgres"} {
		if !want("E4") {
			break
		}
		if db == "postgres" && pg == "" {
			rows = append(rows, notPG("E4", "predictive vs plain exponential retry"))
			continue
		}
		r, err := experimentE4(ctx, o.Scale, db, func(name string) *benchTarget {
			if db == "sqlite" {
				return sqlite(name)
			}
			return postgresTarget()
		}, dropped)
		add(r, err, "E4 "+db)
	}
	// E5: adaptive vs fixed TTL of the engine's cached values (the cache
	// is in the process whatever the database: SQLite only).
	if want("E5") {
		r, err := experimentE5(ctx, o.Scale, sqlite)
		add(r, err, "E5")
	}

	// E6: a short soak on SQLite.
	if want("E6") {
		soakFor := time.Duration(float64(time.Minute) * o.Scale)
		r, err := experimentE6(ctx, sqlite("e6"), soakFor, io.Discard)
		add(r, err, "E6")
	}

	// E7: claim+complete throughput with a long history vs empty.
	if want("E7") {
		r, err := experimentE7(ctx, "sqlite", scaled(1_000_000, o.Scale), scaled(5000, o.Scale), func() *benchTarget { return sqlite(fmt.Sprintf("e7-%d", time.Now().UnixNano())) }, dropped, out)
		add(r, err, "E7 sqlite")
		if pg != "" {
			r, err = experimentE7(ctx, "postgres", scaled(300_000, o.Scale), scaled(5000, o.Scale), postgresTarget, dropped, out)
			add(r, err, "E7 postgres")
		} else {
			rows = append(rows, notPG("E7", "claim+complete throughput with history vs empty"))
		}
	}

	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nEXP\tDB\tCLAIM\tPLAN'S NUMBER\tMEASURED\tHOLDS?")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.id, r.db, r.claim, r.plan, r.measured, r.holds)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "load at end %s\n", loadAvg())
	if len(failed) > 0 {
		return fmt.Errorf("experiments failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

// pgDSN is the URL without ?schema= (every run gets a schema of its own).
func pgDSN(raw string) string {
	i := strings.IndexByte(raw, '?')
	if i < 0 {
		return raw
	}
	var keep []string
	for kv := range strings.SplitSeq(raw[i+1:], "&") {
		if !strings.HasPrefix(kv, "schema=") && kv != "" {
			keep = append(keep, kv)
		}
	}
	if len(keep) == 0 {
		return raw[:i]
	}
	return raw[:i] + "?" + strings.Join(keep, "&")
}

// sleepStep is an I/O-bound step: it waits 20 ms (as on a remote call).
func sleepStep(sc *engine.StepContext) (any, error) {
	select {
	case <-time.After(20 * time.Millisecond):
		return nil, nil
	case <-sc.Done():
		return nil, sc.Err()
	}
}

func ioDef() *benchDef {
	t := &engine.Template{Namespace: "bench", Name: "io", Version: "1",
		Steps: []engine.StepTemplate{{Name: "call", Handler: "bench.sleep20", Backoff: benchBackoff}}}
	return dagDef(t, map[string]engine.HandlerFunc{"bench.sleep20": sleepStep})
}

// ioRun runs n I/O-bound one-step workflows (started before the engine
// runs) on a Postgres pool of 10 and reports the rate, the pool's waits
// and the highest and last concurrency limit.
type ioResult struct {
	rate           float64
	waits          int64
	peak, last     int
	lastWhy        string
	complete, want int
}

func ioRun(ctx context.Context, tg *benchTarget, n int, tune func(*engine.Config)) (res ioResult, err error) {
	tg.maxConns = 10
	def := ioDef()
	r, err := newRig(ctx, tg, def, tune)
	if err != nil {
		return res, err
	}
	if err := startAll(ctx, r, def, n); err != nil {
		return res, errors.Join(err, r.close(ctx, nil))
	}
	ps := r.st.(*postgres.Store)
	w0 := ps.DB().Stats().WaitCount
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the limit, every 100 ms
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if c := r.e.Status().Concurrency; c.Reason != "not running" {
				res.peak, res.last, res.lastWhy = max(res.peak, c.Limit), c.Limit, c.Reason
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	})
	r.run(ctx)
	from := r.snapshot()
	err = r.waitAll(ctx)
	br := r.result(from, n, "workflows")
	close(stop)
	wg.Wait()
	res.waits = ps.DB().Stats().WaitCount - w0
	res.rate = float64(n) / br.wall.Seconds()
	err = errors.Join(err, r.close(ctx, br))
	res.complete, res.want = br.complete, n
	if err == nil && br.complete != n {
		err = fmt.Errorf("only %d of %d workflows complete", br.complete, n)
	}
	return res, err
}

// experimentE1: dynamic concurrency against a fixed 3 (the plan's
// baseline) and against the engine's default fixed 32, I/O-bound steps,
// a pool of 10.
func experimentE1(ctx context.Context, scale float64, target func() *benchTarget, dropped func(*benchTarget) error) ([]expRow, error) {
	n := scaled(3000, scale)
	run := func(tune func(*engine.Config), toggles map[string]bool) (ioResult, error) {
		tg := target()
		tg.toggles = toggles
		res, err := ioRun(ctx, tg, n, tune)
		return res, errors.Join(err, dropped(tg))
	}
	fixed := func(c int) func(*engine.Config) {
		return func(cfg *engine.Config) { cfg.Execution.MinConcurrency, cfg.Execution.MaxConcurrency = c, c }
	}
	f3, err := run(fixed(3), nil)
	if err != nil {
		return nil, err
	}
	f32, err := run(fixed(32), nil)
	if err != nil {
		return nil, err
	}
	dyn, err := run(func(cfg *engine.Config) { cfg.Execution.MinConcurrency, cfg.Execution.MaxConcurrency = 3, 256 },
		map[string]bool{cachex.ToggleDynamicConcurrency: true})
	if err != nil {
		return nil, err
	}
	q3, q32 := dyn.rate/f3.rate, dyn.rate/f32.rate
	return []expRow{
		{"E1", "postgres", fmt.Sprintf("dynamic (3..256) vs fixed 3, %d steps sleeping 20 ms, pool of 10", n), ">= 3x throughput",
			fmt.Sprintf("%.1fx (%.0f vs %.0f steps/s); pool waits %d vs %d; limit peaked at %d, ended %d", q3, dyn.rate, f3.rate, dyn.waits, f3.waits, dyn.peak, dyn.last), holds(q3 >= 3)},
		{"E1", "postgres", "dynamic (3..256) vs the engine's default fixed 32", "(not the plan's: the fair baseline here)",
			fmt.Sprintf("%.2fx (%.0f vs %.0f steps/s); pool waits %d vs %d", q32, dyn.rate, f32.rate, dyn.waits, f32.waits), "-"},
	}, nil
}

// experimentE3: W1 and W2 with adaptive batching on and off, alternating
// (off, on, off, on), the mean rate of each.
func experimentE3(ctx context.Context, scale float64, db string, target func(string) *benchTarget, dropped func(*benchTarget) error) ([]expRow, error) {
	var rows []expRow
	for _, wl := range []struct {
		name      string
		n, steps  int
		unit      string
		perWflows bool
	}{{"W1", scaled(10000, scale), 1, "workflows", true}, {"W2", scaled(1000, scale), 10, "steps", false}} {
		var rate [2]float64
		for rep := range 4 {
			on := rep%2 == 1
			tg := target(fmt.Sprintf("e3-%s-%d", strings.ToLower(wl.name), rep))
			tg.toggles = map[string]bool{engine.ToggleAdaptiveBatching: on}
			res, err := upFront(ctx, tg, wl.name, wl.n, wl.steps, wl.unit)
			err = errors.Join(err, dropped(tg))
			if err != nil {
				return rows, err
			}
			rate[rep%2] += float64(res.items) / res.wall.Seconds() / 2
		}
		q := rate[1] / rate[0]
		rows = append(rows, expRow{"E3", db, fmt.Sprintf("adaptive vs fixed batch size (256), %s", wl.name), "+25-40% throughput",
			fmt.Sprintf("%+.0f%% (%.0f vs %.0f %s/s, mean of 2 runs each)", 100*(q-1), rate[1], rate[0], wl.unit), holds(q >= 1.25)})
	}
	return rows, nil
}
