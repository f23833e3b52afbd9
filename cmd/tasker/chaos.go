package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/internal/chaos"
)

func newChaosCmd() *cobra.Command {
	var o chaos.Options
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "run the failure scenarios and print what each cost",
		Long: `chaos runs each failure scenario on a fresh SQLite file (--db sqlite, the
default; in a temporary directory) or a fresh PostgreSQL schema (--db
postgres://…; random name, dropped afterwards), and prints one row each:

  SCENARIO  DATABASE  WORKFLOWS  LOST  DOUBLE COMPLETIONS  STALE WRITES REFUSED  RECOVERY

LOST (workflows not complete at the end) and DOUBLE COMPLETIONS (steps with
two moves to complete in their history) must be 0; STALE WRITES REFUSED counts
results of attempts whose lease was gone, discarded; RECOVERY is the time from
the last fault injected to the last workflow finished.

Scenarios: a store call commits and its reply is lost (FinishSteps,
ClaimSteps, CreateTasks, SendEvent, RecordStep, RecordAttempts) while
orders (a DAG) and flows (code-first, waiting for an event) run; heartbeats
that fail until the lease is gone, with a second worker taking over; the
retention cleaner deleting while tasks finish; clock skew (two workers, one
5 min ahead of the database's clock and one 5 min behind: retries and
durable sleeps fire neither early nor 5 min late, a live lease is never
taken over); no double claim under a race (8 workers on PostgreSQL, 4 on
SQLite, racing for 100,000 seeded one-step tasks; --quick: 5,000, on
SQLite 500: each claimed and completed once); a template changed between start and
execution (tasks of version 1 keep their snapshot while version 2 is
registered); Redis flushed, then killed mid-run, with the distributed cache
declared (a redis-server of the scenario's own on a free port: the workers
fail open to local caching and return to Redis when it comes back).

Process scenarios re-execute this binary as worker processes sharing the
database: kill -9 of one of 3 workers mid-step; SIGTERM (the worker drains:
its running steps finish, none runs twice); SIGSTOP past the lease, then
SIGCONT (its late results are refused: STALE WRITES REFUSED); on PostgreSQL,
every connection of the workers terminated (pg_terminate_backend) three
times. On SQLite: kill -9 of a process writing hard while the WAL is
checkpointed, 20 rounds (--quick: 3) with synchronous=FULL and NORMAL
(integrity_check ok, every acknowledged start and completion in the file);
the disk full (a process whose files may grow 128 KiB: its writes fail with
errors, the file stays intact, and a process without the limit completes
everything).

--quick runs a dozen workflows per scenario (what CI runs); the full form
hundreds. --soak 15m runs only the soak: mixed load for that long with a
worker process killed every 30 s, the steady worker's RSS and goroutines
sampled (their slopes printed after the table). The exit status is 1 when a
scenario broke an invariant. See docs/chaos.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Given empty (--only "$SCENARIO" unset), it ran every
			// scenario, as if it had not been given.
			if cmd.Flags().Changed("only") && strings.TrimSpace(o.Only) == "" {
				return fmt.Errorf("--only is empty (got %q): give part of a scenario's name, or leave --only out for every scenario", o.Only)
			}
			if err := refuseSchemaParam(o.DB); err != nil {
				return err
			}
			_, err := chaos.Run(cmd.Context(), cmd.OutOrStdout(), o)
			return err
		},
	}
	cmd.Flags().StringVar(&o.DB, "db", "sqlite", `"sqlite" or a postgres:// URL (each scenario in a fresh schema of its own: ?schema= is refused)`)
	cmd.Flags().BoolVar(&o.Quick, "quick", false, "small workloads (seconds)")
	cmd.Flags().StringVar(&o.Only, "only", "", "run only the scenarios whose names contain this")
	durFlag(cmd.Flags(), &o.Soak, "soak", 0, "run only the soak, for this long (e.g. 15m)")
	return cmd
}
