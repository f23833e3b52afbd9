package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/editdist"
	"github.com/tasker-go/tasker/internal/ids"
	"github.com/tasker-go/tasker/store"
)

func newTasksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "list, inspect and operate on tasks",
	}
	cmd.AddCommand(newTasksLsCmd(), newTasksShowCmd(), newTasksCancelCmd(), newTasksRetryCmd(), newTasksResolveCmd())
	return cmd
}

const timeLayout = "2006-01-02 15:04:05.000"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(timeLayout)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

// clip shortens s to n runes on one line.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// errorText extracts the message of a stored error document.
func errorText(doc store.JSON) string {
	if len(doc) == 0 || string(doc) == "null" {
		return ""
	}
	var v struct {
		Error string `json:"error"`
		Kind  string `json:"kind"`
	}
	if json.Unmarshal(doc, &v) == nil && v.Error != "" {
		if v.Kind != "" {
			return v.Kind + ": " + v.Error
		}
		return v.Error
	}
	return string(doc)
}

// parseTaskID reads a task id as the CLI prints it (ids.Parse): ParseInt
// took "+1" and "01" for task 1.
func parseTaskID(s string) (int64, error) {
	id, ok := ids.Parse(s)
	if !ok {
		return 0, fmt.Errorf("task id must be a positive integer, got %q (want decimal digits, without sign or leading zero)", s)
	}
	return id, nil
}

// refuseBlankFilter refuses the filter flag name given with an empty or
// blank value, saying what it wants: a filter of "$VAR" from an unset
// variable listed (or reported) every task, as if it had not been given.
// It refuses one with spaces around it too, as the admin API refuses such
// a filter: a filter matches exactly, so " shop/x" listed nothing.
func refuseBlankFilter(cmd *cobra.Command, name, want string) error {
	f := cmd.Flags().Lookup(name)
	if f.Changed && strings.TrimSpace(f.Value.String()) == "" {
		return fmt.Errorf("--%s is empty (got %q): give %s, or leave --%s out for every %s", name, f.Value.String(), want, name, name)
	}
	return padded("--"+name, f.Value.String())
}

// parseWorkflowFlag checks a --workflow filter: "namespace/name", as no
// workflow has a '@' in its namespace or a '/' or '@' in its name
// (Template refuses them), and a filter with one would match nothing.
func parseWorkflowFlag(workflow string) (ns, name string, err error) {
	ns, name, _ = strings.Cut(workflow, "/")
	switch {
	case ns == "" || name == "":
		return "", "", fmt.Errorf("--workflow must be namespace/name, got %q", workflow)
	case strings.Contains(name, "@"):
		return "", "", fmt.Errorf("--workflow %q: a workflow's name has no '@' (tasks of every version are listed): give namespace/name", workflow)
	case strings.Contains(name, "/"):
		return "", "", fmt.Errorf("--workflow %q: a workflow's name has no '/': give namespace/name", workflow)
	case strings.Contains(ns, "@"):
		return "", "", fmt.Errorf("--workflow %q: a namespace has no '@': give namespace/name", workflow)
	}
	return ns, name, nil
}

func newTasksLsCmd() *cobra.Command {
	var db, state, workflow string
	var limit int
	var before int64
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "list tasks, newest first",
		Long: `ls lists tasks, newest first, a page at a time (--limit); the line under the
table gives the --before of the next page. It opens the database read-only:
it creates, migrates and changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Every flag is checked before anything is opened.
			var err error
			if limit < 1 || limit > maxListLimit {
				return fmt.Errorf("--limit must be from 1 to %d, got %d", maxListLimit, limit)
			}
			if err := refuseBlankFilter(cmd, "workflow", "namespace/name"); err != nil {
				return err
			}
			p := &store.ListTasksParams{Limit: limit, Before: before}
			if workflow != "" {
				if p.Namespace, p.Name, err = parseWorkflowFlag(workflow); err != nil {
					return err
				}
			}
			blank := 0
			for i, s := range strings.Split(state, ",") {
				if s = strings.TrimSpace(s); s == "" {
					blank = cmp.Or(blank, i+1)
					continue
				}
				if !store.TaskState(s).Valid() {
					return fmt.Errorf("unknown state %q (one of %s)", s, joinStates())
				}
				p.States = append(p.States, store.TaskState(s))
			}
			if blank > 0 && len(p.States) > 0 {
				// "error," or "error,,pending" (a state left out of a
				// list), as the configuration's lists refuse it.
				return fmt.Errorf("--state: item %d of %q is blank: give a state there, or drop the comma", blank, state)
			}
			if cmd.Flags().Changed("state") && len(p.States) == 0 {
				// --state "$STATES" of an unset variable listed every task.
				return fmt.Errorf("--state %q names no state: give one or more of %s, or leave --state out for every state", state, joinStates())
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, db, openReadOnly)
			if err != nil {
				return err
			}
			defer st.Close()
			page, err := st.ListTasks(ctx, p)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), taskListJSON{Tasks: orEmpty(page.Tasks), NextBefore: page.NextCursor})
			}
			if len(page.Tasks) == 0 && workflow != "" && before == 0 {
				// A misspelt workflow lists nothing, as one with no task
				// would: say which recent workflow it is a slip away from.
				if hint, err := closeName(ctx, st, p.Namespace+"/"+p.Name, workflowOf); err == nil && hint != "" {
					_, err := fmt.Fprintf(cmd.OutOrStdout(), "no tasks of workflow %q; did you mean %q?\n", workflow, hint)
					return err
				}
			}
			return printTaskList(cmd.OutOrStdout(), page)
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only tasks in these states (comma-separated: "+joinStates()+")")
	cmd.Flags().StringVar(&workflow, "workflow", "", "only tasks of this workflow (namespace/name)")
	intFlag(cmd.Flags(), &limit, "limit", 50, fmt.Sprintf("most tasks to list (1 to %d)", maxListLimit))
	cmd.Flags().Var(idFlag{&before}, "before", "only tasks with a smaller id (the cursor the previous page printed)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: {"tasks": [...], "next_before": ID} (next_before absent on the last page)`)
	addDBFlag(cmd, &db)
	return cmd
}

// closeName returns the name (of, e.g. workflowOf) of the recent tasks
// (the newest maxListLimit) closest to want, within two typing slips, or
// "": what a filter that matched nothing was probably meant to be.
func closeName(ctx context.Context, st store.Store, want string, of func(*store.Task) string) (string, error) {
	recent, err := st.ListTasks(ctx, &store.ListTasksParams{Limit: maxListLimit})
	if err != nil {
		return "", err
	}
	var names []string
	for _, t := range recent.Tasks {
		if n := of(t); n != want {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return editdist.Closest(want, slices.Compact(names)), nil
}

func workflowOf(t *store.Task) string  { return t.Namespace + "/" + t.Name }
func namespaceOf(t *store.Task) string { return t.Namespace }

// maxListLimit is the store's largest page.
const maxListLimit = 1000

// taskListJSON is `tasks ls --json`.
type taskListJSON struct {
	Tasks      []*store.Task `json:"tasks"`
	NextBefore int64         `json:"next_before,omitempty"`
}

// taskJSON is `tasks show --json`: the task, its steps and edges, and its
// transitions (task's and steps', each oldest first).
type taskJSON struct {
	Task    *store.Task     `json:"task"`
	Steps   []*store.Step   `json:"steps"`
	Edges   []*store.Edge   `json:"edges"`
	History taskHistoryJSON `json:"history"`
}

type taskHistoryJSON struct {
	Task  []*store.TaskTransition `json:"task"`
	Steps []*store.StepTransition `json:"steps"`
}

// orEmpty makes a nil slice encode as [] rather than null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// writeJSON prints v as indented JSON and a newline.
func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func joinStates() string {
	var s []string
	for _, st := range store.TaskStates {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

func printTaskList(out io.Writer, page *store.TaskPage) error {
	if len(page.Tasks) == 0 {
		_, err := fmt.Fprintln(out, "no tasks")
		return err
	}
	w := newTable(out)
	fmt.Fprintln(w, "ID\tWORKFLOW\tVERSION\tSTATE\tOPEN STEPS\tCREATED\tUPDATED")
	for _, t := range page.Tasks {
		fmt.Fprintf(w, "%d\t%s/%s\t%s\t%s\t%d\t%s\t%s\n", t.ID, t.Namespace, t.Name, t.Version, t.State, t.Unfinished,
			fmtTime(t.CreatedAt), fmtTime(t.UpdatedAt))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if page.NextCursor != 0 {
		fmt.Fprintf(out, "more: --before %d\n", page.NextCursor)
	}
	return nil
}

func newTasksShowCmd() *cobra.Command {
	var db string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "show a task, its steps and its transition history",
		Long: `show prints a task, its steps and its transition history. It opens the
database read-only: it creates, migrates and changes nothing.`,
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
			d, err := st.GetTask(ctx, id)
			if err != nil {
				return taskError(id, err)
			}
			h, err := st.History(ctx, id)
			if err != nil {
				return taskError(id, err)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), taskJSON{Task: d.Task, Steps: orEmpty(d.Steps), Edges: orEmpty(d.Edges),
					History: taskHistoryJSON{Task: orEmpty(h.Task), Steps: orEmpty(h.Steps)}})
			}
			return printTask(cmd.OutOrStdout(), d, h)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: {"task", "steps", "edges", "history": {"task", "steps"}} as the store reads them (history rows with id 0 are a start's moves, implied by the rows)`)
	addDBFlag(cmd, &db)
	return cmd
}

func printTask(out io.Writer, d *store.TaskDetail, h *store.History) error {
	t := d.Task
	w := newTable(out)
	fmt.Fprintf(w, "task\t%d\n", t.ID)
	fmt.Fprintf(w, "workflow\t%s/%s@%s (%s)\n", t.Namespace, t.Name, t.Version, t.Kind)
	fmt.Fprintf(w, "state\t%s\n", t.State)
	fmt.Fprintf(w, "identity\t%s\n", t.IdentityKey)
	fmt.Fprintf(w, "created\t%s\n", fmtTime(t.CreatedAt))
	fmt.Fprintf(w, "updated\t%s\n", fmtTime(t.UpdatedAt))
	fmt.Fprintf(w, "completed\t%s\n", fmtTimePtr(t.CompletedAt))
	fmt.Fprintf(w, "input\t%s\n", clip(payloadText(t.Context), 100))
	if e := errorText(t.LastError); e != "" {
		fmt.Fprintf(w, "error\t%s\n", clip(e, 100))
	}
	if err := w.Flush(); err != nil {
		return err
	}

	names := map[int64]string{}
	deps := map[int64][]string{}
	for _, s := range d.Steps {
		names[s.ID] = s.Name
	}
	for _, e := range d.Edges {
		deps[e.ToStepID] = append(deps[e.ToStepID], names[e.FromStepID])
	}
	fmt.Fprintln(out, "\nSTEPS")
	if t.Kind == store.KindCode {
		if err := printDurableSteps(out, d); err != nil {
			return err
		}
	} else if err := printDAGSteps(out, d, names, deps); err != nil {
		return err
	}
	printDiagnoses(out, d.Steps)
	return printHistory(out, h, names)
}

// printDAGSteps lists a DAG task's steps with their dependencies.
func printDAGSteps(out io.Writer, d *store.TaskDetail, names map[int64]string, deps map[int64][]string) error {
	w := newTable(out)
	fmt.Fprintln(w, "NAME\tSTATE\tATTEMPTS\tAFTER\tLAST ERROR\tRESULT")
	for _, s := range d.Steps {
		after := "-"
		if len(deps[s.ID]) > 0 {
			slices.Sort(deps[s.ID])
			after = strings.Join(deps[s.ID], ",")
		}
		fmt.Fprintf(w, "%s\t%s\t%d/%d\t%s\t%s\t%s\n", s.Name, s.State, s.Attempts, s.RetryLimit, after,
			clip(errorText(s.LastError), 60), clip(payloadText(s.Results), 60))
	}
	return w.Flush()
}

// printDurableSteps lists a code-first task's driver, then its recorded
// durable operations in the order the code reached them.
func printDurableSteps(out io.Writer, d *store.TaskDetail) error {
	steps := slices.Clone(d.Steps)
	seq := func(s *store.Step) int {
		if s.Sequence == nil {
			return 0
		}
		return *s.Sequence
	}
	slices.SortStableFunc(steps, func(a, b *store.Step) int { return seq(a) - seq(b) })
	w := newTable(out)
	fmt.Fprintln(w, "SEQ\tNAME\tKIND\tSTATE\tATTEMPTS\tLAST ERROR\tRESULT")
	for _, s := range steps {
		n, kind, attempts := s.Name, "driver", fmt.Sprintf("%d/%d", s.Attempts, s.RetryLimit)
		sq := "-"
		if s.Sequence != nil {
			sq = strconv.Itoa(*s.Sequence)
			n = s.UserName()
			kind = strings.TrimPrefix(s.Handler, "workflow.")
			if kind != "step" {
				attempts = "-" // waits are not attempts
			}
		}
		state := string(s.State)
		if s.State == store.StepPending && (s.Sequence == nil || kind != "step") && !s.NextAttemptAt.IsZero() {
			switch {
			case kind == "event":
				state = "waiting (times out " + fmtTime(s.NextAttemptAt) + ")"
			case kind == "sleep":
				state = "sleeping until " + fmtTime(s.NextAttemptAt)
			case s.Sequence == nil && s.StartedAt != nil: // it ran before: a wait suspended it
				state = "suspended (next run " + fmtTime(s.NextAttemptAt) + ")"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sq, n, kind, state, attempts,
			clip(errorText(s.LastError), 60), clip(payloadText(s.Results), 60))
	}
	return w.Flush()
}

// printHistory merges the task's and its steps' transitions in time order.
func printHistory(out io.Writer, h *store.History, names map[int64]string) error {
	type row struct {
		at       time.Time
		object   string
		from, to string
		meta     store.JSON
		order    int
	}
	var rows []row
	for i, tt := range h.Task {
		rows = append(rows, row{at: tt.CreatedAt, object: "task", from: deref(tt.FromState), to: tt.ToState, meta: tt.Metadata, order: i})
	}
	for i, s := range h.Steps {
		rows = append(rows, row{at: s.CreatedAt, object: "step " + names[s.StepID], from: deref(s.FromState), to: s.ToState, meta: s.Metadata, order: len(h.Task) + i})
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		// Within one commit a task's creation comes first (a start may
		// claim its first steps in the same commit); otherwise the store
		// writes step moves before the task move they cause.
		if ca, cb := a.object == "task" && a.from == noState, b.object == "task" && b.from == noState; ca != cb {
			if ca {
				return -1
			}
			return 1
		}
		if (a.object == "task") != (b.object == "task") {
			if a.object == "task" {
				return 1
			}
			return -1
		}
		return a.order - b.order
	})
	fmt.Fprintln(out, "\nHISTORY")
	w := newTable(out)
	fmt.Fprintln(w, "TIME\tOBJECT\tTRANSITION\tDETAIL")
	for _, r := range rows {
		detail := errorText(r.meta)
		if detail == "" && len(r.meta) > 0 && string(r.meta) != "null" {
			detail = string(r.meta)
		}
		detail = clip(detail, 80)
		if b := backoffText(r.meta); b != "" {
			detail += "; " + b // the predictive retry's decision, whole
		}
		fmt.Fprintf(w, "%s\t%s\t%s → %s\t%s\n", fmtTime(r.at), r.object, r.from, r.to, detail)
	}
	return w.Flush()
}

// noState is how a transition's missing from-state (a creation) prints.
const noState = "(new)"

func deref(s *string) string {
	if s == nil {
		return noState
	}
	return *s
}

// taskError turns store errors about a task into a message for operators.
func taskError(id int64, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("task %d not found", id)
	}
	return err
}

// operate opens the store and an engine (not running: only its operator
// methods are used; its logs follow --log-level and --log-format) and
// calls fn with the task's current state.
func operate(cmd *cobra.Command, db string, id int64, fn func(e *engine.Engine, st store.Store, d *store.TaskDetail) error) error {
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
	d, err := st.GetTask(ctx, id)
	if err != nil {
		return taskError(id, err)
	}
	return fn(e, st, d)
}

// defaultCancelReason is tasks cancel's --reason when none is given.
const defaultCancelReason = "cancelled by operator"

func newTasksCancelCmd() *cobra.Command {
	var db, reason string
	var force bool
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "cancel a task: its unfinished steps are cancelled and no new attempt starts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseTaskID(args[0])
			if err != nil {
				return err
			}
			// An empty --reason (an unset shell variable) would record a
			// cancellation that says nothing of why.
			if strings.TrimSpace(reason) == "" {
				return fmt.Errorf("--reason is empty (got %q): say why, or leave --reason out (%q)", reason, defaultCancelReason)
			}
			return operate(cmd, db, id, func(e *engine.Engine, st store.Store, d *store.TaskDetail) error {
				state := d.Task.State
				if state == store.TaskCancelled {
					return fmt.Errorf("cannot cancel task %d: it is already cancelled", id)
				}
				if state.Terminal() && !force {
					return fmt.Errorf("cannot cancel task %d: it is %s, and a finished task's record does not change by accident (--force withdraws it anyway)", id, state)
				}
				if state == store.TaskError && d.Task.Kind == store.KindCode {
					return fmt.Errorf("cannot cancel task %d: it is in error, which is not cancelled; a code-first workflow in error is closed with its result: tasker tasks resolve %d %s --results JSON%s", id, id, engine.DriverStep, dbFlag(db))
				}
				var opts []engine.CancelOption
				if force {
					opts = append(opts, engine.Force())
				}
				if err := e.Cancel(cmd.Context(), id, reason, opts...); err != nil {
					return operatorError("cancel", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "task %d cancelled (was %s)\n", id, state)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", defaultCancelReason, "why (kept in the transition's metadata; not empty)")
	cmd.Flags().BoolVar(&force, "force", false, "also cancel a complete or resolved task")
	addDBFlag(cmd, &db)
	return cmd
}

func newTasksRetryCmd() *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "retry ID",
		Short: "move a task in error back to pending; its failed steps get fresh attempts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseTaskID(args[0])
			if err != nil {
				return err
			}
			return operate(cmd, db, id, func(e *engine.Engine, _ store.Store, d *store.TaskDetail) error {
				if d.Task.State != store.TaskError {
					return fmt.Errorf("cannot retry task %d: it is %s, and only a task in error can be retried", id, d.Task.State)
				}
				if err := e.Retry(cmd.Context(), id); err != nil {
					return operatorError("retry", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "task %d is pending again; a running worker picks it up\n", id)
				return nil
			})
		},
	}
	addDBFlag(cmd, &db)
	return cmd
}

func newTasksResolveCmd() *cobra.Command {
	var db, results string
	cmd := &cobra.Command{
		Use:   "resolve ID STEP",
		Short: "mark a pending or failed step resolved_manually with the given results",
		Long: `Mark a pending or failed step resolved_manually with the given results.

The driver step ("` + engine.DriverStep + `") of a code-first workflow in error (failed, or
past its WithWorkflowTimeout) resolves the workflow as a whole: --results
is its return value (required), its unfinished durable steps and children
are cancelled, and the task moves to resolved_manually. That is how such a
task is closed: it is not cancelled, and one past its deadline not retried.

--results must be JSON; for a driver, results that read as a run's
continuation ({"tasker_continued_as_new": ID}) are refused. The CLI has not
the workflow's code: it cannot check the results against the type the
workflow reads them as (its result type, a durable step's), and results
that do not decode as it fail the reader (WorkflowHandle.Result, or the
workflow when it runs on). Engine.Resolve, in the application that
registered the workflow, checks a driver's against its result type.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseTaskID(args[0])
			if err != nil {
				return err
			}
			step := args[1]
			if !json.Valid([]byte(results)) {
				return fmt.Errorf("--results is not valid JSON: %q", results)
			}
			return operate(cmd, db, id, func(e *engine.Engine, st store.Store, d *store.TaskDetail) error {
				s := d.Step(step)
				if s == nil {
					// Not refused before the lookup: a durable step
					// recorded before with spaces around its name keeps it.
					if t := strings.TrimSpace(step); t != step && d.Step(t) != nil {
						return fmt.Errorf("task %d has no step %q: write %q, without the spaces around it", id, step, t)
					}
					var names []string
					for _, s := range d.Steps {
						names = append(names, s.Name)
					}
					return fmt.Errorf("task %d has no step %q (steps: %s)", id, step, strings.Join(names, ", "))
				}
				// A name the code gave several durable steps (a loop's) is
				// the engine's to pick: the one the workflow failed on.
				if one := s.Name == step || len(d.StepsNamed(step)) == 1; one && s.State != store.StepPending && s.State != store.StepError {
					return fmt.Errorf("cannot resolve step %s of task %d: it is %s, and only a pending or failed step can be resolved", step, id, s.State)
				}
				if d.Task.Kind == store.KindCode && step == engine.DriverStep && !cmd.Flags().Changed("results") {
					// The default {} would become the workflow's return value.
					return fmt.Errorf("cannot resolve step %s of task %d: its results are the workflow's return value: give them with --results", step, id)
				}
				if err := e.Resolve(cmd.Context(), id, step, json.RawMessage(results)); err != nil {
					return operatorError("resolve", id, err)
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "step %s of task %d resolved_manually\n", step, id)
				after, err := st.GetTask(cmd.Context(), id)
				if err != nil {
					return err
				}
				switch after.Task.State {
				case store.TaskError:
					if d.Task.Kind == store.KindCode { // its driver failed with the step
						fmt.Fprintf(out, "the workflow's driver is still in error: `tasker tasks retry %d%s` runs the workflow on, with the results given\n", id, dbFlag(db))
						break
					}
					fmt.Fprintf(out, "the task is still in error (another step failed): `tasker tasks retry %d%s` gives failed steps fresh attempts\n", id, dbFlag(db))
				case d.Task.State:
				default:
					fmt.Fprintf(out, "task %d: %s → %s\n", id, d.Task.State, after.Task.State)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&results, "results", "{}", "the step's results (JSON), handed to its dependants; for a code-first workflow's driver, its return value")
	addDBFlag(cmd, &db)
	return cmd
}

// dbFlag is the --db flag of a command suggested to the user: db, when it
// is not the default (the command would act on another database).
func dbFlag(db string) string {
	if db == defaultDB {
		return ""
	}
	return " --db " + shellQuote(db)
}

func operatorError(op string, id int64, err error) error {
	var te *store.TransitionError
	switch {
	case errors.As(err, &te):
		return fmt.Errorf("cannot %s task %d: the %s is %s and cannot move to %s (%s)", op, id, te.Object, te.From, te.To, te.Reason)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("cannot %s task %d: it changed while we looked (try again): %w", op, id, err)
	}
	return err
}
