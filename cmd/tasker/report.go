package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
)

func newReportCmd() *cobra.Command {
	var db, namespace, workflow string
	var since time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "report",
		Short: "print the performance report of the tasks created recently",
		Long: `report prints the performance report (engine.Report) of the tasks created in
the last --since: the executive summary (tasks, completion and error rates,
throughput per hour, p50/p95 duration per workflow), per-step durations and
retry rates, the steps that dominate the critical path, the system's health,
recommendations, and trends against the window before. Durations, steps and
bottlenecks come from the most recent 1000 tasks of the window (counts are
exact). It opens the database read-only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The bounds of GET /api/report's since (at most
			// engine.MaxReportWindow): 1ms for 1m reported nothing, and
			// 2562047h read every task twice (the window and the one
			// before it), without a word.
			if since < minReportWindow || since > engine.MaxReportWindow {
				return fmt.Errorf("--since %s is not between %s and %s (say 1h, 30m or 168h)", since, minReportWindow, engine.MaxReportWindow)
			}
			if err := errors.Join(refuseBlankFilter(cmd, "namespace", "a namespace"), refuseBlankFilter(cmd, "workflow", "namespace/name")); err != nil {
				return err
			}
			if strings.ContainsAny(namespace, "/@") {
				return fmt.Errorf("--namespace %q: a namespace has no '/' or '@' (for one workflow, give --workflow namespace/name)", namespace)
			}
			if workflow != "" {
				ns, _, err := parseWorkflowFlag(workflow)
				if err != nil {
					return err
				}
				if namespace != "" && namespace != ns {
					return fmt.Errorf("--namespace %q and --workflow %q disagree (its namespace is %q): give --workflow alone", namespace, workflow, ns)
				}
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
			to := time.Now()
			r, err := e.Report(ctx, to.Add(-since), to, engine.ReportFilter{Namespace: namespace, Workflow: workflow})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), reportJSON{Report: r,
					Health: reportHealthJSON{ReadySteps: r.Health.ReadySteps, OldestReady: r.Health.OldestReady}})
			}
			if r.Sampled == 0 && (namespace != "" || workflow != "") {
				// A misspelt filter reports nothing, as a quiet window
				// would: say which recent name it is a slip away from.
				what, want, of := "namespace", namespace, namespaceOf
				if workflow != "" {
					what, want, of = "workflow", workflow, workflowOf
				}
				if hint, err := closeName(ctx, st, want, of); err == nil && hint != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "no tasks of %s %q in the window; did you mean %q?\n\n", what, want, hint)
				}
			}
			return printReport(cmd.OutOrStdout(), r)
		},
	}
	durFlag(cmd.Flags(), &since, "since", time.Hour, "the window: tasks created this long ago until now (1m to 744h)")
	cmd.Flags().StringVar(&namespace, "namespace", "", "only this namespace's workflows")
	cmd.Flags().StringVar(&workflow, "workflow", "", `only this workflow ("namespace/name")`)
	cmd.Flags().BoolVar(&asJSON, "json", false, `print the report as JSON (engine.Report, its health only "ready_steps" and "oldest_ready": the rest is a worker's, in its metrics)`)
	addDBFlag(cmd, &db)
	return cmd
}

// reportJSON is engine.Report with the health figures that are the
// database's. The others (pool, pressure, running handlers, concurrency)
// are the reporting process's, and this command runs no workers: its idle
// pool and default limits would read as the service's. Health, the
// shallower field, hides the Report's own in encoding/json.
type reportJSON struct {
	*engine.Report
	Health reportHealthJSON `json:"health"`
}

// reportHealthJSON: the steps waiting unclaimed, and how long the oldest
// has (engine.SystemHealth's ReadySteps and OldestReady).
type reportHealthJSON struct {
	ReadySteps  int           `json:"ready_steps"`
	OldestReady time.Duration `json:"oldest_ready"`
}

// minReportWindow and engine.MaxReportWindow bound report --since, as
// admin's GET /api/report bounds its since.
const minReportWindow = time.Minute

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func printReport(out io.Writer, r *engine.Report) error {
	s := r.Summary
	fmt.Fprintf(out, "report %s – %s (generated %s, %d tasks sampled)\n\n", fmtTime(r.From), fmtTime(r.To), fmtTime(r.GeneratedAt), r.Sampled)
	fmt.Fprintf(out, "SUMMARY\ntasks %d: %d complete, %d failed, %d cancelled, %d resolved, %d running; completion %s, errors %s, %.1f complete/h\n",
		s.Tasks, s.Complete, s.Failed, s.Cancelled, s.Resolved, s.Running, pct(s.CompletionRate), pct(s.ErrorRate), s.ThroughputPerHour)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if len(s.Workflows) > 0 {
		fmt.Fprintln(tw, "\nWORKFLOW\tTASKS\tCOMPLETE\tFAILED\tP50\tP95")
		for _, w := range s.Workflows {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", w.Workflow, w.Tasks, w.Complete, w.Failed, w.P50, w.P95)
		}
	}
	if len(r.Steps) > 0 {
		fmt.Fprintln(tw, "\nWORKFLOW\tSTEP\tRUNS\tRETRY RATE\tFAILED\tMEAN\tP50\tP95")
		for _, st := range r.Steps {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", st.Workflow, st.Step, st.Runs, pct(st.RetryRate), st.Failed, st.Mean, st.P50, st.P95)
		}
	}
	if len(r.Bottlenecks) > 0 {
		fmt.Fprintln(tw, "\nBOTTLENECK\tSTEP\tSHARE OF TASK TIME\tMEAN ON PATH")
		for _, b := range r.Bottlenecks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Workflow, b.Step, pct(b.Share), b.Mean)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The pool and handler figures are the reporting process's, and this
	// command runs no workers: only the ready steps are the database's.
	h := r.Health
	fmt.Fprintf(out, "\nHEALTH\n%d steps ready, oldest %s (a worker's pool and handlers: its metrics, or Engine.Report in it)\n",
		h.ReadySteps, h.OldestReady.Round(time.Millisecond))
	if len(r.Recommendations) > 0 {
		fmt.Fprintln(out, "\nRECOMMENDATIONS")
		for _, rc := range r.Recommendations {
			fmt.Fprintf(out, "[%s %s] %s: %s\n", rc.Priority, rc.Category, rc.Finding, rc.Action)
		}
	}
	fmt.Fprintln(out, "\nTRENDS (vs the previous window)")
	for _, t := range r.Trends {
		fmt.Fprintf(out, "%s: %.3g → %.3g", t.Metric, t.Previous, t.Current)
		if t.Previous != 0 {
			fmt.Fprintf(out, " (%+.1f%%)", 100*t.Change)
		}
		fmt.Fprintln(out)
	}
	return nil
}
