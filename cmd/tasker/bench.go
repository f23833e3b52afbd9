package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/internal/bench"
)

func newBenchCmd() *cobra.Command {
	o := bench.Options{}
	var cpuProfile, traceFile string
	var experiments bool
	var soak time.Duration
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "measure the engine on fresh SQLite files or PostgreSQL schemas",
		Long: `bench runs each workload on a fresh SQLite file of its own (deleted first), or
with --db postgres://… in a fresh schema of its own (random name, dropped
afterwards), with MaxConcurrency 256, BatchSize 256 and a 1-2 ms retry
backoff, and prints rates and per-step costs:

  W1  10,000 one-step workflows                         workflows/s
  W1r W1 routed: 200 registered handlers, 4 queues served
  W1m W1 started by one Engine.StartMany call (as River's InsertMany)
  W1c W1 as code-first workflows of one engine.Step
  W2  1,000 workflows x 10-step chain                   steps/s
  W3  100 workflows fanning out 1 -> 50 -> 1            steps/s
  W4  10,000 one-step workflows, 30% fail once          workflows/s (all must complete)
  W4c W4 as code-first workflows: one engine.Step that fails once for 30%
  W5  1,000 3-step chains, one at a time (Start, Wait)  p50/p99 latency
  W2c W2 as code-first workflows: 10 engine.Step calls in sequence
  W5c W5 as code-first workflows of 3 engine.Step calls
  W5x W5 with the starter and the worker in two processes (this process
      starts and waits; a worker process on the same file or schema runs
      the engine, as an API process and a worker would)

Code-first rows count per durable step (engine.Step), not per claim (a
workflow's driver is claimed once per run); the footer compares their cost
per step with the DAG rows' (W1c/W1, W2c/W2, W4c/W4 and W5c/W5; the target is at
most 1.5x).

Per step: claim and finish transactions, SQL statements through the store's
writer (a bun query hook on store.DB(); reads on the read pool are not seen),
and heap allocations. The ceiling is the rate of one-row INSERT commits on the
same kind of file. --scale multiplies every workload's size; --peers-sizes
runs the sizes of the side-by-side harness (../shared/peers) instead.

W1 to W4 time what a user waits for, as the harness does: the engine runs
while 8 goroutines start the workflows, and WALL (and the rate) runs from
the first Start to the last completion; the notes give the starting part.

On PostgreSQL every workload runs once per --procs entry (default 1,3). With 1
the bench process runs the engine; with N it starts the workflows, then spawns
N worker processes (this executable, hidden subcommand bench-worker) that run
the engine until SIGTERM and report their counters: WALL runs from the spawn to
the last finished workflow, and W5 starts and waits for one workflow at a time
while the workers run them. Statements are every statement bun runs on the
pool, and PEAK CONNS the most pool connections open at once in one process.
The ceiling is one-row INSERT commits per second from 1 connection and from 8.

--cpuprofile and --trace record the bench process (on PostgreSQL with --procs
1 that is the engine too) for go tool pprof and go tool trace.

--experiments runs instead the original plan's claims (docs/experiments.md)
and prints one table, "claim | plan's number | measured | holds?": SQLite
rows in a temporary directory, PostgreSQL rows when --db is a postgres://
URL. --scale shrinks them (0.01 is a smoke run of seconds).

--soak 10m runs instead a steady load (200 one-step workflows started a
second) for that long, prints RSS, heap and goroutines every 10 s, and the
slope of each after the warm-up (the first fifth).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			switch {
			case experiments && soak != 0:
				return errors.New("--experiments and --soak are separate runs: give one")
			case soak < 0:
				return fmt.Errorf("--soak must be positive, got %s", soak)
			}
			// Given empty (--only "$ONLY" unset), it ran every experiment,
			// as if it had not been given.
			if cmd.Flags().Changed("only") && strings.Trim(o.Only, ", ") == "" {
				return fmt.Errorf("--only is empty (got %q): name experiments (E1,E3), or leave --only out for every one", o.Only)
			}
			if err := refuseSchemaParam(o.DB); err != nil {
				return err
			}
			if err := benchUnusedFlags(cmd, experiments, soak > 0, strings.HasPrefix(o.DB, "postgres://") || strings.HasPrefix(o.DB, "postgresql://")); err != nil {
				return err
			}
			if soak > 0 && soak < bench.MinSoak {
				return fmt.Errorf("--soak: %s is under %s: the soak samples every second and fits at least four samples (say 10m)", soak, bench.MinSoak)
			}
			// Both would truncate the file and write into it: neither
			// go tool pprof nor go tool trace could read the result.
			if cpuProfile != "" && filepath.Clean(cpuProfile) == filepath.Clean(traceFile) {
				return fmt.Errorf("--cpuprofile and --trace name the same file (%s): give each its own", cpuProfile)
			}
			stop, err := profile(cpuProfile, traceFile)
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, stop()) }()
			switch {
			case experiments:
				return bench.RunExperiments(cmd.Context(), cmd.OutOrStdout(), o)
			case soak > 0:
				return bench.RunSoak(cmd.Context(), cmd.OutOrStdout(), o, soak)
			}
			return bench.Run(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().BoolVar(&experiments, "experiments", false, "run the original plan's claims instead of the workloads and print the scoreboard (docs/experiments.md)")
	cmd.Flags().StringVar(&o.Only, "only", "", "with --experiments: run only these (comma-separated, e.g. E1,E3)")
	durFlag(cmd.Flags(), &soak, "soak", 0, "run a steady load for this long (at least 5s) instead of the workloads, sampling RSS and goroutines (e.g. 10m)")
	cmd.Flags().StringVar(&o.DB, "db", "", "SQLite file path of the workloads (each uses PATH with -w1, -w2… before the extension; default: a temporary directory, removed afterwards, as always with --experiments and --soak) or postgres:// URL (each run in a fresh schema of its own: ?schema= is refused)")
	cmd.Flags().StringVar(&o.Workloads, "workloads", bench.DefaultWorkloads, "workloads to run (comma-separated)")
	cmd.Flags().Float64Var(&o.Scale, "scale", 1, "multiply every workload's size (e.g. 0.1 for a quick run; at most 1000)")
	cmd.Flags().BoolVar(&o.PeersSizes, "peers-sizes", false, "the sizes of the side-by-side harness (../shared/peers): W1 2,000, W2 200 chains, W3 50 fan-outs of 20, W4 500, W5 200")
	cmd.Flags().BoolVar(&o.Metrics, "metrics", false, "SQLite: run each workload twice, without and with the engine's Prometheus metrics")
	cmd.Flags().BoolVar(&o.Tracing, "tracing", false, "SQLite: run each workload also with OpenTelemetry tracing on (SDK, every span sampled, batched and dropped by a no-op exporter); with --metrics also with both. With either flag the notes give the process CPU time per step")
	cmd.Flags().StringVar(&o.Procs, "procs", "1,3", "PostgreSQL only: run each workload with each of these numbers of engine processes (refused on SQLite)")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	cmd.Flags().StringVar(&traceFile, "trace", "", "write an execution trace of the run to this file")
	return cmd
}

// profile starts a CPU profile and an execution trace when their files are
// named; stop ends them and closes the files.
func profile(cpuFile, traceFile string) (stop func() error, err error) {
	var stops []func() error
	stop = func() error {
		var errs []error
		for _, s := range stops {
			errs = append(errs, s())
		}
		return errors.Join(errs...)
	}
	start := func(name string, begin func(*os.File) error, end func()) error {
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		if err := begin(f); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
		stops = append(stops, func() error { end(); return f.Close() })
		return nil
	}
	if cpuFile != "" {
		if err := start(cpuFile, func(f *os.File) error { return pprof.StartCPUProfile(f) }, pprof.StopCPUProfile); err != nil {
			return nil, err
		}
	}
	if traceFile != "" {
		if err := start(traceFile, func(f *os.File) error { return trace.Start(f) }, trace.Stop); err != nil {
			return nil, errors.Join(err, stop())
		}
	}
	return stop, nil
}

func newBenchWorkerCmd() *cobra.Command {
	var o bench.WorkerOptions
	cmd := &cobra.Command{
		Use:    bench.WorkerSubcommand,
		Short:  "one worker process of `tasker bench` on PostgreSQL (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.RunWorker(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().StringVar(&o.DB, "db", "", "postgres:// URL")
	cmd.Flags().StringVar(&o.Schema, "schema", "", "the run's schema")
	cmd.Flags().StringVar(&o.Workload, "workload", "", "W1 to W5c")
	cmd.Flags().StringVar(&o.ID, "id", "1", "worker number")
	return cmd
}

// benchUnusedFlags refuses a flag the chosen run would ignore: --only
// without --experiments, the workloads' flags with --experiments or
// --soak, --metrics and --tracing on PostgreSQL, --procs on SQLite (its
// workloads run one engine in this process), a SQLite --db path with
// --experiments or --soak.
func benchUnusedFlags(cmd *cobra.Command, experiments, soak, postgres bool) error {
	mode, unused := "the workloads on SQLite", []string{"only", "procs"}
	switch {
	case experiments:
		mode, unused = "--experiments", []string{"workloads", "peers-sizes", "metrics", "tracing", "procs"}
	case soak:
		mode, unused = "--soak", []string{"only", "workloads", "peers-sizes", "metrics", "tracing", "procs", "scale"}
	case postgres:
		mode, unused = "the workloads on PostgreSQL", []string{"only", "metrics", "tracing"}
	}
	for _, name := range unused {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s does nothing with %s: leave it out", name, mode)
		}
	}
	// Their SQLite rows run in a temporary directory of their own: a
	// path was dropped unread, nothing written where it said.
	if (experiments || soak) && !postgres && cmd.Flags().Changed("db") {
		db, _ := cmd.Flags().GetString("db")
		return fmt.Errorf("--db %s does nothing with %s: it runs SQLite in a temporary directory of its own (give a postgres:// URL, or leave --db out)", db, mode)
	}
	return nil
}

// refuseSchemaParam refuses a postgres --db with ?schema= for bench and
// chaos: each of their runs creates a schema of its own, so the one named
// would be dropped from the URL unread.
func refuseSchemaParam(db string) error {
	if !strings.HasPrefix(db, "postgres://") && !strings.HasPrefix(db, "postgresql://") {
		return nil
	}
	u, err := url.Parse(db)
	if err != nil {
		return nil // the command reports it
	}
	if s, ok := u.Query()["schema"]; ok {
		return fmt.Errorf("--db: ?schema=%s does nothing here: every run gets a fresh schema of its own (random name, dropped afterwards); leave it out", strings.Join(s, ","))
	}
	return nil
}
