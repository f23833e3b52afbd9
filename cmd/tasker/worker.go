package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/approval"
	"github.com/tasker-go/tasker/examples/orderflow"
)

func newWorkerCmd() *cobra.Command {
	var db string
	var concurrency int
	var poll, shutdown time.Duration
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "run the example workflows' steps until SIGINT or SIGTERM",
		Long: `worker registers the example workflows (the order DAG of ` + "`tasker demo`" + ` and the
code-first expense approval of ` + "`tasker approval start`" + `) and executes their
steps from the store (started by this or any other process) until it
receives SIGINT or SIGTERM. It then stops claiming, lets running steps finish for up to
--shutdown-timeout, and gives back the leases of those that did not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			st, err := openStore(ctx, db, openCreate)
			if err != nil {
				return err
			}
			defer st.Close()
			e, err := engine.New(engine.Config{Store: st, Execution: engine.ExecutionConfig{MaxConcurrency: concurrency, PollInterval: poll}})
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
			fmt.Fprintf(out, "stopping: waiting up to %s for running steps\n", shutdown)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdown)
			defer cancel()
			stopErr := e.Stop(sctx)
			if err := <-runDone; runErr == nil {
				runErr = err
			}
			s := e.Stats()
			fmt.Fprintf(out, "worker stopped: %d steps completed, %d retried, %d failed, %d leases given back\n",
				s.StepsCompleted, s.StepsRetried, s.StepsFailed, s.LeasesReleased)
			if runErr != nil {
				return runErr
			}
			if stopErr != nil {
				return fmt.Errorf("stopping: %w (unfinished steps' leases were released)", stopErr)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&concurrency, "concurrency", 0, "most handlers running at once (0: the engine's default, 32)")
	cmd.Flags().DurationVar(&poll, "poll", 0, "how often to look for work started by other processes (0: the engine's default, 1s)")
	cmd.Flags().DurationVar(&shutdown, "shutdown-timeout", 30*time.Second, "how long running steps may take to finish after a signal")
	addDBFlag(cmd, &db)
	return cmd
}
