package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

func newSchedulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "list and operate schedules (workflows started on a cron spec or an interval)",
		Long: `schedules lists and operates the schedules an application declared with
engine.Schedule. The schedules' leader (one of the processes running workers)
fires them; these commands only change the stored schedule, so they work
from anywhere with the database.`,
	}
	cmd.AddCommand(newSchedulesListCmd(),
		scheduleOp("pause", "stop a schedule's ticks until resume (a run it started goes on)",
			func(ctx context.Context, e *engine.Engine, st store.Store, out io.Writer, id string) error {
				// PauseSchedule changes nothing on a paused schedule: say
				// so rather than "paused".
				before, err := e.GetSchedule(ctx, id)
				if err != nil {
					return err
				}
				if err := e.PauseSchedule(ctx, id); err != nil {
					return err
				}
				if before.Paused {
					_, err = fmt.Fprintf(out, "schedule %s was already paused; nothing changed\n", id)
					return err
				}
				_, err = fmt.Fprintf(out, "schedule %s paused\n", id)
				return err
			}),
		scheduleOp("resume", "resume a paused schedule from its next tick (ticks of the paused time do not fire)",
			func(ctx context.Context, e *engine.Engine, st store.Store, out io.Writer, id string) error {
				// ResumeSchedule changes nothing on an active schedule: say
				// so rather than "resumed".
				before, err := e.GetSchedule(ctx, id)
				if err != nil {
					return err
				}
				if err := e.ResumeSchedule(ctx, id); err != nil {
					return err
				}
				info, err := e.GetSchedule(ctx, id)
				if err != nil {
					return err
				}
				if !before.Paused {
					_, err = fmt.Fprintf(out, "schedule %s is not paused; nothing changed (next tick %s)\n", id, fmtTime(info.NextFireAt))
					return err
				}
				_, err = fmt.Fprintf(out, "schedule %s resumed; next tick %s\n", id, fmtTime(info.NextFireAt))
				return err
			}),
		scheduleOp("trigger", "ask for a run now, paused or not (the leader starts it; the overlap policy does not apply)",
			func(ctx context.Context, e *engine.Engine, st store.Store, out io.Writer, id string) error {
				// A request the leader has not started yet is not doubled
				// (TriggerSchedule): say so rather than "triggered".
				before, err := st.GetSchedule(ctx, id)
				if err != nil {
					return err
				}
				if _, err := e.TriggerSchedule(ctx, id); err != nil {
					return err
				}
				after, err := st.GetSchedule(ctx, id)
				if err != nil {
					return err
				}
				// (The leader may have started the one before meanwhile:
				// then this is a new request.)
				if before.TriggerAt != nil && after.TriggerAt != nil && after.TriggerAt.Equal(*before.TriggerAt) {
					_, err = fmt.Fprintf(out, "schedule %s: the run asked for at %s still waits for the schedules' leader; nothing changed\n", id, fmtTime(*before.TriggerAt))
					return err
				}
				_, err = fmt.Fprintf(out, "schedule %s triggered: the schedules' leader starts the run on its next pass (see `tasker schedules list`)\n", id)
				return err
			}),
		scheduleOp("delete", "delete a schedule (the runs it started are left alone)",
			func(ctx context.Context, e *engine.Engine, st store.Store, out io.Writer, id string) error {
				if err := e.DeleteSchedule(ctx, id); err != nil {
					return err
				}
				_, err := fmt.Fprintf(out, "schedule %s deleted\n", id)
				return err
			}))
	return cmd
}

// scheduleOp is a command on one schedule by id.
func scheduleOp(name, short string, op func(ctx context.Context, e *engine.Engine, st store.Store, out io.Writer, id string) error) *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   name + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Ids are names without spaces around them (engine.Schedule
			// refuses others): a padded one was looked up as given and
			// answered "no schedule", the schedule being there.
			if strings.TrimSpace(args[0]) == "" {
				return fmt.Errorf("schedule id is empty (got %q): give a schedule's id (`tasker schedules list` lists them)", args[0])
			}
			if err := padded("schedule id", args[0]); err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, db, openExisting)
			if err != nil {
				return err
			}
			defer st.Close()
			e, err := engine.New(engine.Config{Store: st, Slog: cliLogger(cmd)})
			if err != nil {
				return err
			}
			if err := op(ctx, e, st, cmd.OutOrStdout(), args[0]); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no schedule %q (`tasker schedules list` lists them)", args[0])
				}
				return err
			}
			return nil
		},
	}
	addDBFlag(cmd, &db)
	return cmd
}

func newSchedulesListCmd() *cobra.Command {
	var db string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "list schedules with their next fire times",
		Long: `list prints every schedule: id, workflow, spec (and time zone), overlap
policy, state, next tick, the latest run started and the latest firing error.
A next tick in the past means the schedule is catching up, or no process
runs workers. It opens the database read-only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := openStore(ctx, db, openReadOnly)
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := st.ListSchedules(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				// [] when there are none, as tasks ls and workers print:
				// null would break `jq '.schedules[]'`.
				return writeJSON(cmd.OutOrStdout(), schedulesJSON{Schedules: append([]*store.Schedule{}, list...)})
			}
			return printSchedules(cmd.OutOrStdout(), list, time.Now())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: {"schedules": [{"id", "workflow", "spec", "timezone", "input", "overlap", "paused", "next_fire_at", "last_fire_at", "last_task_id", "last_error", …}]} (durations in nanoseconds)`)
	addDBFlag(cmd, &db)
	return cmd
}

type schedulesJSON struct {
	Schedules []*store.Schedule `json:"schedules"`
}

func printSchedules(out io.Writer, list []*store.Schedule, now time.Time) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(out, "no schedules")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWORKFLOW\tSPEC\tOVERLAP\tSTATE\tNEXT\tLAST RUN\tLAST ERROR")
	for _, s := range list {
		spec := s.Spec
		if s.Timezone != "" {
			spec += " (" + s.Timezone + ")"
		}
		state, next := "active", fmtTime(s.NextFireAt)
		switch {
		case s.Paused:
			state, next = "paused", "-"
		case s.NextFireAt.Before(now.Add(-time.Minute)):
			next += " (overdue)"
		}
		if s.TriggerAt != nil {
			state += ", triggered"
		}
		last := "-"
		if s.LastTaskID != nil {
			last = fmt.Sprintf("task %d at %s", *s.LastTaskID, fmtTimePtr(s.LastFireAt))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Workflow, spec, s.Overlap, state, next, last, clip(s.LastError, 60))
	}
	return tw.Flush()
}
