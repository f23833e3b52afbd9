package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/approval"
	"github.com/tasker-go/tasker/examples/orderflow"
	"github.com/tasker-go/tasker/internal/cliconfig"
)

// registerExtra, when set (by tests), registers more workflows on the
// worker's engine.
var registerExtra func(e *engine.Engine) error

// defaultConcurrency is the engine's MaxConcurrency when none is given.
const defaultConcurrency = 32

func newWorkerCmd() *cobra.Command {
	var db, configPath string
	var concurrency int
	var poll, drain time.Duration
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "run the example workflows' steps until SIGINT or SIGTERM",
		Long: `worker registers the example workflows (the order DAG of ` + "`tasker demo`" + ` and the
code-first expense approval of ` + "`tasker approval start`" + `) and executes their
steps from the store (started by this or any other process) until it
receives SIGINT or SIGTERM. It then stops claiming, lets running steps finish
for up to --drain, and gives back the leases of those that did not; a step
whose handler ignores cancellation keeps its lease until it expires, and the
worker exits at the end of --drain anyway (status 1). A second SIGINT or
SIGTERM exits at once (status 128+signal).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("drain") && cmd.Flags().Changed("shutdown-timeout") {
				return errors.New("--drain and --shutdown-timeout are one setting (--shutdown-timeout is its former name): give --drain alone")
			}
			if drain < 0 {
				return fmt.Errorf("--drain must not be negative, got %s", drain)
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			// The flags override the configuration: a max the flag
			// replaces is not checked against the min (below, with the
			// flag's value).
			var overridden []string
			if cmd.Flags().Changed("concurrency") {
				overridden = append(overridden, "execution.max_concurrency")
			}
			settings, err := loadSettings(cmd, configPath, &db, overridden...)
			if err != nil {
				return err
			}
			cfg := settings.Config
			// The flags are checked, and the configuration with them,
			// before the database is opened: a refused worker creates
			// nothing.
			if cmd.Flags().Changed("concurrency") {
				if concurrency < 0 {
					return fmt.Errorf("--concurrency must not be negative, got %d", concurrency)
				}
				// Named with where min_concurrency was set, as cliconfig
				// names both sources of an error about two keys.
				if m := cfg.Execution.MinConcurrency; m > cmp.Or(concurrency, defaultConcurrency) {
					flag := fmt.Sprint(concurrency)
					if concurrency == 0 {
						flag = fmt.Sprintf("0 (the engine's default, %d)", defaultConcurrency)
					}
					return fmt.Errorf("--concurrency %s is below execution.min_concurrency %d (%s)", flag, m, settings.From["execution.min_concurrency"])
				}
				cfg.Execution.MaxConcurrency = concurrency
			}
			if cmd.Flags().Changed("poll") {
				if poll < 0 || (poll > 0 && poll < engine.MinPollInterval) {
					return fmt.Errorf("--poll must be 0 (the engine's default) or at least %s, got %s", engine.MinPollInterval, poll)
				}
				cfg.Execution.PollInterval = poll
			}
			if err := cliconfig.Validate(cfg); err != nil {
				return fmt.Errorf("the configuration with --concurrency and --poll: %w", err)
			}
			st, err := openStore(ctx, db, openCreate)
			if err != nil {
				return err
			}
			closeStore := true
			defer func() {
				if closeStore {
					st.Close()
				}
			}()
			cfg.Store, cfg.Slog, cfg.Version = st, cliLogger(cmd), buildVersion().Version
			e, err := engine.New(cfg)
			if err != nil {
				return err
			}
			if err := orderflow.Register(e, orderflow.Options{}); err != nil {
				return err
			}
			// The approval example's ledger is in memory, per process: its
			// idempotency keys hold within this worker only.
			if err := approval.Register(e, approval.Options{}); err != nil {
				return err
			}
			if registerExtra != nil {
				if err := registerExtra(e); err != nil {
					return err
				}
			}
			runDone := make(chan error, 1)
			// Run gets a context that does not end with the signal: a
			// signal asks for a graceful Stop, not Run's hard stop.
			go func() { runDone <- e.Run(context.WithoutCancel(ctx)) }()
			fmt.Fprintf(out, "worker running %s and %s on %s; SIGINT or SIGTERM stops it\n", orderflow.Workflow, approval.Workflow, describe(st, db))

			var runErr error
			select {
			case <-ctx.Done():
			case runErr = <-runDone:
				runDone <- runErr
			}
			fmt.Fprintf(out, "stopping: waiting up to %s for running steps (SIGINT or SIGTERM again exits at once)\n", drain)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
			defer cancel()
			// Stop returns by the drain deadline even when a handler
			// ignores cancellation.
			if err := e.Stop(sctx); err != nil {
				// Handlers still run: leave their leases to expire, and the
				// store open under them.
				closeStore = false
				return fmt.Errorf("the engine did not stop within --drain %s: exiting with steps still running (their leases expire and other workers retry them): %w", drain, err)
			}
			if rerr := <-runDone; runErr == nil {
				runErr = rerr
			}
			s := e.Stats()
			fmt.Fprintf(out, "worker stopped: %d steps completed, %d retried, %d failed, %d leases given back\n",
				s.StepsCompleted, s.StepsRetried, s.StepsFailed, s.LeasesReleased)
			if runErr != nil {
				return runErr
			}
			return nil
		},
	}
	intFlag(cmd.Flags(), &concurrency, "concurrency", 0, fmt.Sprintf("most handlers running at once (0: the engine's default, %d)", defaultConcurrency))
	durFlag(cmd.Flags(), &poll, "poll", 0, "how often to look for work started by other processes (0: the engine's default, 1s)")
	durFlag(cmd.Flags(), &drain, "drain", 30*time.Second, "after a signal, how long running steps may take to finish before their leases are given back")
	durFlag(cmd.Flags(), &drain, "shutdown-timeout", 30*time.Second, "the former name of --drain")
	_ = cmd.Flags().MarkDeprecated("shutdown-timeout", "use --drain")
	addDBFlag(cmd, &db)
	addConfigFlag(cmd, &configPath)
	return cmd
}
