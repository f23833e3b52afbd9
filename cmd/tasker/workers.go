package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

func newWorkersCmd() *cobra.Command {
	var db string
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "workers",
		Short: "list the workers running against the database (the worker registry)",
		Long: `workers lists the engines running against the database, as they record
themselves: id, the application version they report, their concurrency, the
queues and handlers they serve, when they started and their last heartbeat.
A worker that stops deregisters; one that crashed drops out three lease TTLs
after its last heartbeat (--all lists those expired within the last day too,
their expiry marked "(expired)").
It opens the database read-only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := openStore(ctx, db, openReadOnly)
			if err != nil {
				return err
			}
			defer st.Close()
			ws, err := st.ListWorkers(ctx, &store.ListWorkersParams{IncludeExpired: all})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), workersJSON{Workers: ws})
			}
			if len(ws) == 0 && all {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "no workers, live or expired within the last day")
				return err
			}
			var live map[string]bool // with --all: which of ws are live (the others are marked)
			if all {
				// Judged by the database's clock, as the listing was: this
				// machine's may disagree with it.
				alive, err := st.ListWorkers(ctx, &store.ListWorkersParams{})
				if err != nil {
					return err
				}
				live = make(map[string]bool, len(alive))
				for _, w := range alive {
					live[w.ID] = true
				}
			}
			return printWorkers(cmd.OutOrStdout(), ws, live)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: {"workers": [{"id", "queues", "handlers", "version", "concurrency", "started_at", "heartbeat_at", "expires_at"}]}`)
	cmd.Flags().BoolVar(&all, "all", false, "also list workers whose registration expired (crashed within the last day), marked \"(expired)\"")
	addDBFlag(cmd, &db)
	return cmd
}

type workersJSON struct {
	Workers []*store.Worker `json:"workers"`
}

// printWorkers prints ws; with live (--all), the expiry of a worker not in
// it is marked "(expired)".
func printWorkers(out io.Writer, ws []*store.Worker, live map[string]bool) error {
	if len(ws) == 0 {
		_, err := fmt.Fprintln(out, "no live workers")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVERSION\tCONCURRENCY\tQUEUES\tHANDLERS\tSTARTED\tHEARTBEAT\tEXPIRES")
	for _, w := range ws {
		expires := fmtTime(w.ExpiresAt)
		if live != nil && !live[w.ID] {
			expires += " (expired)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", w.ID, orDash(w.Version), w.Concurrency, strings.Join(w.Queues, ","),
			clip(fmt.Sprintf("%d: %s", len(w.Handlers), strings.Join(w.Handlers, ",")), 60),
			fmtTime(w.StartedAt), fmtTime(w.HeartbeatAt), expires)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newExplainCmd() *cobra.Command {
	var db string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain ID",
		Short: "say why a task's unfinished steps are not running now",
		Long: `explain says, for each unfinished step of a task, why it is not running now:
waiting on named dependencies, a retry due at a time (attempt n of m, the last
error), leased by a worker until a time, ready but no live worker serves its
handler, its dependent system paused, a code-first workflow sleeping or waiting
for an event, or its task finished. It opens the database read-only.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseTaskID(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, db, openReadOnly)
			if err != nil {
				return err
			}
			defer st.Close()
			e, err := engine.New(engine.Config{Store: st, Slog: cliLogger(cmd)})
			if err != nil {
				return err
			}
			defer e.Stop(ctx)
			x, err := e.Explain(ctx, id)
			if err != nil {
				return taskError(id, err)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), x)
			}
			return printExplanation(cmd.OutOrStdout(), x)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: {"task_id", "workflow", "state", "reason", "live_workers", "steps": [{"step", "state", "kind", "reason", ...}]}`)
	addDBFlag(cmd, &db)
	return cmd
}

func printExplanation(out io.Writer, x *engine.Explanation) error {
	fmt.Fprintf(out, "%s (%s, %s)\n", x.Reason, x.Workflow, x.Kind)
	live := "none"
	if len(x.LiveWorkers) > 0 {
		live = strings.Join(x.LiveWorkers, ", ")
	}
	fmt.Fprintf(out, "live workers: %s\n", live)
	if len(x.Steps) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSTEP\tSTATE\tKIND\tREASON")
	for _, s := range x.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Step, s.State, s.Kind, s.Reason)
	}
	return tw.Flush()
}
