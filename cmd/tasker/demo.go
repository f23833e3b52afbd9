package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/orderflow"
	"github.com/tasker-go/tasker/internal/bench"
	"github.com/tasker-go/tasker/internal/cliconfig"
)

type demoOptions struct {
	log         *slog.Logger // the root's --log-level and --log-format
	orders      int
	db          string
	concurrency int
}

func newDemoCmd() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "run the order workflow on many orders and summarise",
		Long: `demo registers the example order workflow (examples/orderflow), starts --orders
new orders (every third one's payment fails once and is retried), runs them to
completion and prints a summary. Each run adds new orders to the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.log = cliLogger(cmd)
			return runDemo(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	intFlag(cmd.Flags(), &o.orders, "orders", 200, "orders to run")
	intFlag(cmd.Flags(), &o.concurrency, "concurrency", 0, "most handlers running at once (0: the engine's default, 32)")
	// Not addDBFlag: TASKER_DB does not apply, so the demo's orders go to
	// the demo's own file unless --db names another database, never to the
	// one a worker's environment names.
	cmd.Flags().StringVar(&o.db, "db", defaultDB, "SQLite file path or postgres:// URL (TASKER_DB does not apply: the demo writes its orders where --db says)")
	return cmd
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	if o.orders < 1 {
		return fmt.Errorf("--orders must be at least 1, got %d", o.orders)
	}
	if o.concurrency < 0 {
		return fmt.Errorf("--concurrency must not be negative, got %d", o.concurrency)
	}
	cfg := engine.Config{Slog: o.log, Execution: engine.ExecutionConfig{MaxConcurrency: o.concurrency}}
	// Checked before the database is opened: the engine refused a
	// --concurrency above its limit once demo had created the file.
	if err := cliconfig.Validate(cfg); err != nil {
		return fmt.Errorf("--concurrency %d: %w", o.concurrency, err)
	}
	st, err := openStore(ctx, o.db, openCreate)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg.Store = st
	e, err := engine.New(cfg)
	if err != nil {
		return err
	}
	if err := orderflow.Register(e, orderflow.Options{}); err != nil {
		return err
	}
	fmt.Fprintf(out, "tasker demo: %d orders of %s@%s on %s\n", o.orders, orderflow.Workflow, orderflow.Version, describe(st, o.db))

	tr := bench.NewTracker()
	// Room for a run's events up to a bound (16 per order, 1,024 orders'
	// worth at most: --orders 1000000 would have reserved 1.4 GB up front);
	// events dropped past it are caught up by reading the store (Resync).
	events, unsubscribe := e.Subscribe(min(max(4096, 16*o.orders), 16<<10))
	consumed := make(chan struct{})
	go func() { defer close(consumed); tr.Consume(events) }()

	runDone := make(chan error, 1)
	began := time.Now()
	go func() { runDone <- e.Run(context.WithoutCancel(ctx)) }()
	stopEngine := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err := e.Stop(sctx)
		if rerr := <-runDone; err == nil {
			err = rerr
		}
		unsubscribe()
		<-consumed
		return err
	}

	// The progress line redraws itself (\r) on a terminal; into a file or
	// a pipe only the final count is written, once.
	tty := isTerminal(out)
	progress := func(final bool) {
		if !final && !tty {
			return
		}
		c, f, _ := tr.Counts()
		s := e.Stats()
		line := fmt.Sprintf("  %d/%d orders done (%d complete, %d error), %d retries, %s",
			c+f, o.orders, c, f, s.StepsRetried, time.Since(began).Round(100*time.Millisecond))
		if tty {
			line = "\r" + line
		}
		if final {
			line += "\n"
		}
		fmt.Fprint(out, line)
	}
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()

	var startErr error
	for i := 1; i <= o.orders; i++ {
		h, err := e.Start(ctx, orderflow.Workflow, orderflow.SampleOrder(i), engine.Unique())
		if err != nil {
			startErr = err
			break
		}
		tr.Add(h.TaskID)
		select {
		case <-ticker.C:
			progress(false)
		default:
		}
	}
	_, _, started := tr.Counts()
	var waitErr error
	if startErr == nil {
	wait:
		for {
			if c, f, _ := tr.Counts(); c+f == started {
				break
			}
			select {
			case <-tr.Changed():
			case <-ticker.C:
				progress(false)
				if e.Stats().EventsDropped > 0 {
					if err := tr.Resync(ctx, st); err != nil {
						waitErr = err
						break wait
					}
				}
			case <-ctx.Done():
				waitErr = ctx.Err()
				break wait
			}
		}
	}
	wall := time.Since(began)
	progress(true)
	stopErr := stopEngine()
	switch {
	case startErr != nil:
		return fmt.Errorf("starting orders: %w", startErr)
	case waitErr != nil:
		return fmt.Errorf("interrupted with %d orders started: %w", started, waitErr)
	case stopErr != nil:
		return fmt.Errorf("stopping the engine: %w", stopErr)
	}

	complete, failed, _ := tr.Counts()
	s := e.Stats()
	w := newTable(out)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "orders\t%d\n", started)
	fmt.Fprintf(w, "  complete\t%d\n", complete)
	fmt.Fprintf(w, "  error\t%d\n", failed)
	fmt.Fprintf(w, "steps run\t%d\t(%d completed, %d failed)\n", s.StepsClaimed, s.StepsCompleted, s.StepsFailed)
	fmt.Fprintf(w, "retries\t%d\n", s.StepsRetried)
	fmt.Fprintf(w, "transactions\t%d\t(%d claims, %d completions)\n", s.ClaimTransactions+s.FinishTransactions, s.ClaimTransactions, s.FinishTransactions)
	fmt.Fprintf(w, "wall time\t%s\n", wall.Round(time.Millisecond))
	fmt.Fprintf(w, "workflows/s\t%.1f\n", float64(started)/wall.Seconds())
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\ninspect them: tasker tasks ls --db %s\n", shellQuote(o.db)) // a URL's & or a path's space would break the command pasted
	if failed > 0 {
		return fmt.Errorf("%d of %d orders ended in error", failed, started)
	}
	return nil
}
