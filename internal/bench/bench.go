package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/internal/bench/ceiling"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store/sqlite"
)

// benchBackoff is the tiny backoff every bench step retries with.
var benchBackoff = retry.Policy{Base: time.Millisecond, Max: 2 * time.Millisecond}

// Options are `tasker bench`'s flags.
type Options struct {
	// DB is an SQLite file path (each workload uses PATH with -w1, -w2…
	// before the extension; empty: a temporary directory, removed
	// afterwards) or a postgres:// URL (each run in a fresh schema).
	DB string
	// Workloads to run, comma-separated (DefaultWorkloads: all).
	Workloads string
	// Scale multiplies every workload's size.
	Scale float64
	// Procs lists, comma-separated, the numbers of engine processes each
	// workload runs with on PostgreSQL (ignored on SQLite).
	Procs string
	// PeersSizes runs the sizes of the side-by-side harness
	// (../shared/peers): W1 2,000 workflows, W2 200 chains, W3 50 fan-outs
	// of 20, W4 500 workflows, W5 200 runs.
	PeersSizes bool
	// Metrics runs each SQLite workload twice, without and with the
	// engine's Prometheus metrics (Config.Metrics), rows side by side.
	Metrics bool
	// Only lists the experiments --experiments runs (comma-separated ids,
	// E1 to E7; empty: all).
	Only string
	// Tracing runs each SQLite workload also with OpenTelemetry tracing on
	// (the SDK, every span sampled and handed to a batching processor
	// whose exporter drops it), and with metrics and tracing when Metrics
	// is set too.
	Tracing bool
}

// benchResult is one workload's measurements.
type benchResult struct {
	items    int
	unit     string // "workflows" or "steps"
	procs    int    // worker processes (0: the bench process itself)
	wall     time.Duration
	tasks    int
	complete int
	attempts int64 // step attempts (claims), the per-step denominator of DAG workloads
	retried  int64 // attempts that failed and were retried (W4, W4c)
	// durable is the number of durable steps code-first workflows ran, the
	// per-step denominator of code-first workloads (attempts counts their
	// drivers' claims there).
	durable  int64
	p50, p99 float64 // W5/W5c latency, ms
	claimTx  int64
	finishTx int64
	sql      int64
	mallocs  uint64
	cpu      time.Duration // the bench process's CPU time (SQLite: the engine's and the database's)
	peakConn int32         // peak open pool connections in one process (Postgres)
	note     string
}

// perStep is the denominator of the per-step columns.
func (r *benchResult) perStep() int64 {
	if r.durable > 0 {
		return r.durable
	}
	return r.attempts
}

// per formats n per step.
func (r *benchResult) per(n float64) string {
	if r.perStep() == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", n/float64(r.perStep()))
}

type workload struct {
	name, what string
	run        func(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error)
}

var workloads = []workload{
	{"W1", "one-step workflows, 8 goroutines starting", benchW1},
	{"W1r", "W1 with 200 handlers, 4 queues", benchW1r},
	{"W1m", "W1 started by one StartMany call", benchW1m},
	{"W1c", "code-first, one durable step", benchW1c},
	{"W2", "10-step chains", benchW2},
	{"W2c", "code-first, 10 durable steps", benchW2c},
	{"W3", "fan-out 1->50->1 (1->20->1 at peers sizes)", benchW3},
	{"W4", "one step, 30% fail once", benchW4},
	{"W4c", "code-first, one durable step, 30% fail once", benchW4c},
	{"W5", "3-step chains one at a time", benchW5},
	{"W5c", "code-first 3 steps one at a time", benchW5c},
	{"W5x", "W5, starter and worker in two processes", benchW5x},
}

// DefaultWorkloads is --workloads' default: every workload.
var DefaultWorkloads = func() string {
	var names []string
	for _, w := range workloads {
		names = append(names, w.name)
	}
	return strings.Join(names, ",")
}()

// maxScale is the largest --scale: at 1000 the biggest size (E7's million
// rows) is a billion, which already runs for days.
const maxScale = 1000

// checkScale refuses a --scale that sizes no workload: zero, negative, NaN
// (which every comparison passes, so each workload ran at size 1),
// infinite, or over maxScale.
func checkScale(scale float64) error {
	if !(scale > 0) || math.IsInf(scale, 1) {
		return fmt.Errorf("--scale must be a positive number, got %g", scale)
	}
	if scale > maxScale {
		return fmt.Errorf("--scale %g is over %d: the workloads would run for days, and past about 1e14 their sizes overflow (to 1)", scale, maxScale)
	}
	return nil
}

func scaled(n int, scale float64) int { return max(1, int(math.Round(float64(n)*scale))) }

// Run runs the chosen workloads and prints the table to out. It fails when
// a workload fails or does not complete every workflow.
func Run(ctx context.Context, out io.Writer, o Options) error {
	if err := checkScale(o.Scale); err != nil {
		return err
	}
	chosen, err := chooseWorkloads(o.Workloads)
	if err != nil {
		return err
	}
	if strings.HasPrefix(o.DB, "postgres://") || strings.HasPrefix(o.DB, "postgresql://") {
		return runPostgresBench(ctx, out, o, chosen)
	}
	return runSQLiteBench(ctx, out, o, chosen)
}

// chooseWorkloads parses --workloads.
func chooseWorkloads(list string) ([]workload, error) {
	var chosen []workload
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		i := slices.IndexFunc(workloads, func(w workload) bool { return strings.EqualFold(w.name, name) })
		if i < 0 {
			return nil, fmt.Errorf("unknown workload %q (one of %s)", strings.ToUpper(name), DefaultWorkloads)
		}
		if slices.ContainsFunc(chosen, func(w workload) bool { return w.name == workloads[i].name }) {
			return nil, fmt.Errorf("--workloads: %q is named twice (it would run twice, two rows of one name)", workloads[i].name)
		}
		chosen = append(chosen, workloads[i])
	}
	if len(chosen) == 0 {
		return nil, errors.New("--workloads names no workload")
	}
	return chosen, nil
}

func runSQLiteBench(ctx context.Context, out io.Writer, o Options, chosen []workload) error {
	base := o.DB
	if base == "" {
		dir, err := os.MkdirTemp("", "tasker-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		base = filepath.Join(dir, "bench.db")
	}
	fileFor := func(suffix string) string {
		ext := filepath.Ext(base)
		return strings.TrimSuffix(base, ext) + "-" + suffix + ext
	}
	fmt.Fprintf(out, "tasker bench: scale %g, %s %s/%s, GOMAXPROCS %d, files %s\n",
		o.Scale, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), fileFor("*"))
	fmt.Fprintln(out, "engine: MaxConcurrency 256, BatchSize 256, retry backoff 1-2 ms; SQLite WAL, synchronous NORMAL")

	ceil, err := rawCommitRate(ctx, fileFor("raw"), scaled(5000, o.Scale))
	if err != nil {
		return fmt.Errorf("raw commit rate: %w", err)
	}

	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nWORKLOAD\tWHAT\tITEMS\tWALL\tRATE\tCOMPLETE\tCLAIM TX/STEP\tFINISH TX/STEP\tSQL/STEP\tALLOCS/STEP\tNOTES")
	var failed []string
	done := map[string]*benchResult{}
	type variant struct {
		wl               workload
		metrics, tracing bool
	}
	var runs []variant
	for _, wl := range chosen {
		runs = append(runs, variant{wl, false, false})
		if o.Metrics {
			runs = append(runs, variant{wl, true, false})
		}
		if o.Tracing {
			runs = append(runs, variant{wl, false, true})
		}
		if o.Metrics && o.Tracing {
			runs = append(runs, variant{wl, true, true})
		}
	}
	for _, v := range runs {
		wl := v.wl
		if v.metrics {
			wl.name += "+metrics"
		}
		if v.tracing {
			wl.name += "+tracing"
		}
		r, err := v.wl.run(ctx, &benchTarget{sqlitePath: fileFor(strings.ToLower(strings.ReplaceAll(wl.name, "+", "-"))), metrics: v.metrics, tracing: v.tracing, peers: o.PeersSizes}, o.Scale)
		if err != nil {
			fmt.Fprintf(w, "%s\t%s\tFAILED: %v\n", wl.name, wl.what, err)
			failed = append(failed, fmt.Sprintf("%s: %v", wl.name, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		done[wl.name] = r
		if o.Metrics || o.Tracing {
			// CPU time per step tells the variants apart on a busy machine,
			// where their wall times mostly measure the neighbours.
			r.note += fmt.Sprintf("; CPU %.0f µs/step", float64(r.cpu.Microseconds())/float64(max(r.perStep(), 1)))
		}
		fmt.Fprintf(w, "%s\t%s\t%d %s\t%s\t%.0f %s/s\t%d/%d\t%s\t%s\t%s\t%.0f\t%s\n",
			wl.name, wl.what, r.items, r.unit, r.wall.Round(time.Millisecond), float64(r.items)/r.wall.Seconds(), r.unit,
			r.complete, r.tasks, r.per(float64(r.claimTx)), r.per(float64(r.finishTx)), r.per(float64(r.sql)),
			float64(r.mallocs)/float64(max(r.perStep(), 1)), r.note)
		if r.complete != r.tasks {
			failed = append(failed, fmt.Sprintf("%s: only %d of %d workflows complete", wl.name, r.complete, r.tasks))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nceiling: %.0f commits/s (%d one-row INSERT transactions, BEGIN IMMEDIATE/COMMIT through store.DB(), same kind of file)\n", ceil.PerSecond, ceil.Commits)
	fmt.Fprintln(out, "per step = per step attempt (claims), per durable step for code-first rows; SQL counts the writer connection's statements only")
	printCodeFirstRatios(out, "", done)
	if len(failed) > 0 {
		return fmt.Errorf("bench failed: %s", strings.Join(failed, "; "))
	}
	fmt.Fprintln(out, "every workload complete")
	return nil
}

// freshStore deletes path (and its WAL files) and opens a new store there.
func freshStore(ctx context.Context, path string, hooks ...bun.QueryHook) (*sqlite.Store, error) {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return sqlite.Open(ctx, path, &sqlite.Options{QueryHooks: hooks})
}

// rawCommitRate is the ceiling on SQLite: n one-row INSERT commits, one
// at a time, through the store's writer on a fresh file.
func rawCommitRate(ctx context.Context, path string, n int) (ceiling.Rate, error) {
	st, err := freshStore(ctx, path)
	if err != nil {
		return ceiling.Rate{}, err
	}
	defer st.Close()
	if err := ceiling.CreateTable(ctx, st.DB()); err != nil {
		return ceiling.Rate{}, err
	}
	return ceiling.Measure(ctx, st.DB(), n, 1)
}
