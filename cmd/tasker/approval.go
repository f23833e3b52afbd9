package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/approval"
	"github.com/tasker-go/tasker/store"
)

func newApprovalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approval",
		Short: "the code-first expense approval example (examples/approval)",
		Long: `The expense workflow of examples/approval, written as plain Go: it charges the
expense, waits up to three days for an "` + approval.EventName + `" event, then settles the
charge (approved) or refunds it (rejected or no decision). ` + "`tasker worker`" + ` runs it.`,
	}
	cmd.AddCommand(newApprovalStartCmd())
	return cmd
}

// parseCents parses an amount in currency units with at most two decimals
// ("42", "42.5", "42.50") into cents, without floating point. One with
// spaces around it or a leading zero ("042") is refused, as the CLI's
// whole-number flags refuse them: text other than the amount kept.
func parseCents(s string) (int64, error) {
	if err := padded("--amount", s); err != nil {
		return 0, err
	}
	bad := fmt.Errorf("--amount must be a positive amount with at most two decimals (42 or 42.50), got %q", s)
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || (hasFrac && frac == "") {
		return 0, bad
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return 0, bad
			}
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 1<<50 {
		return 0, bad
	}
	if len(whole) > 1 && whole[0] == '0' {
		return 0, fmt.Errorf("--amount %q has a leading zero: write %q", s, strconv.FormatInt(w, 10)+s[len(whole):])
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt((frac + "0")[:2], 10, 64)
	}
	cents := w*100 + f
	if cents <= 0 {
		return 0, bad
	}
	return cents, nil
}

func formatCents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

func newApprovalStartCmd() *cobra.Command {
	var db, amount, id, employee string
	cmd := &cobra.Command{
		Use:   "start --amount N",
		Short: "start an expense workflow and print how to approve or reject it",
		Long: `start starts the expense workflow for one expense (idempotent per --id: starting
the same expense again returns its first task). A running ` + "`tasker worker`" + ` on
the same --db charges it, then waits for the decision, sent with
` + "`tasker events send`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cents, err := parseCents(amount)
			if err != nil {
				return err
			}
			if strings.TrimSpace(employee) == "" {
				return errors.New("--employee is empty: name who spent it")
			}
			if strings.TrimSpace(id) == "" && cmd.Flags().Changed("id") {
				what := "empty"
				if id != "" {
					what = fmt.Sprintf("blank (%q)", id)
				}
				return fmt.Errorf("--id is %s: give the expense id, or leave --id out for a random one", what)
			}
			if err := errors.Join(padded("--id", id), padded("--employee", employee)); err != nil {
				return err
			}
			if id == "" {
				b := make([]byte, 4)
				_, _ = rand.Read(b)
				id = "exp-" + hex.EncodeToString(b)
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, db, openCreate)
			if err != nil {
				return err
			}
			defer st.Close()
			e, err := engine.New(engine.Config{Store: st, Slog: cliLogger(cmd)})
			if err != nil {
				return err
			}
			// Starting needs the workflow registered in this process too
			// (StartWorkflow refuses unknown names); nothing runs here.
			if err := approval.Register(e, approval.Options{}); err != nil {
				return err
			}
			x := approval.Expense{ID: id, Employee: employee, Cents: cents}
			h, err := approval.Start(ctx, e, x)
			if errors.Is(err, store.ErrConflict) {
				// The same --id with another amount or employee: the
				// store's words (an identity key, a different input) name
				// neither flag.
				return fmt.Errorf("expense %s was already started with another --amount or --employee: give a new --id, or the first one's --amount and --employee (%w)", id, err)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			task := strconv.FormatInt(h.TaskID, 10)
			if h.Existing {
				fmt.Fprintf(out, "expense %s was already started: task %s (%s)\n", id, task, approval.Workflow)
			} else {
				fmt.Fprintf(out, "started task %s: %s for expense %s, %s by %s\n", task, approval.Workflow, id, formatCents(cents), employee)
			}
			flag := dbFlag(db)
			fmt.Fprintf(out, "a running `tasker worker%s` charges it, then waits up to %s for the decision:\n", flag, approval.DefaultWait)
			fmt.Fprintf(out, "  approve: tasker events send %s %s --key decision --payload '{\"approved\":true,\"by\":\"you\"}'%s\n", task, approval.EventName, flag)
			fmt.Fprintf(out, "  reject:  tasker events send %s %s --key decision --payload '{\"approved\":false,\"by\":\"you\"}'%s\n", task, approval.EventName, flag)
			fmt.Fprintf(out, "  follow:  tasker tasks show %s%s\n", task, flag)
			return nil
		},
	}
	cmd.Flags().StringVar(&amount, "amount", "", "the expense, in currency units (42 or 42.50)")
	cmd.Flags().StringVar(&id, "id", "", "the expense id, the workflow's idempotency key (default: a random exp-…)")
	cmd.Flags().StringVar(&employee, "employee", "ann", "who spent it")
	_ = cmd.MarkFlagRequired("amount")
	addDBFlag(cmd, &db)
	return cmd
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
