package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/internal/ids"
	"github.com/tasker-go/tasker/store"
)

func newTokensCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "manage the admin API's bearer tokens (create, ls, revoke)"}
	cmd.AddCommand(newTokensCreateCmd(), newTokensLsCmd(), newTokensRevokeCmd())
	return cmd
}

func newTokensCreateCmd() *cobra.Command {
	var db, name, role string
	cmd := &cobra.Command{
		Use:   "create --name NAME --role viewer|operator|admin",
		Short: "create a token and print it once (the database keeps only its hash)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(name) == "" {
				return fmt.Errorf("--name is required (got %q): it names the token in the audit trail of the actions done with it", name)
			}
			if !store.ValidRole(role) {
				return fmt.Errorf("--role %q: want viewer, operator or admin", role)
			}
			st, err := openStore(cmd.Context(), db, openExisting)
			if err != nil {
				return err
			}
			defer st.Close()
			secret, t, err := admin.CreateToken(cmd.Context(), st, name, role)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "token %d %q (%s) created; it is shown this once:\n%s\n", t.ID, t.Name, t.Role, secret)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "who or what uses the token (recorded as the actor of its actions)")
	cmd.Flags().StringVar(&role, "role", "", "viewer (reads), operator (also cancels, retries, resolves, sends events) or admin (also manages tokens)")
	addDBFlag(cmd, &db)
	return cmd
}

func newTokensLsCmd() *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "list the tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context(), db, openReadOnly)
			if err != nil {
				return err
			}
			defer st.Close()
			ts, err := st.ListAdminTokens(cmd.Context())
			if err != nil {
				return err
			}
			if len(ts) == 0 {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "no tokens (`tasker tokens create --name NAME --role ROLE` creates one)")
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tROLE\tCREATED\tREVOKED")
			for _, t := range ts {
				revoked := "-"
				if t.RevokedAt != nil {
					revoked = t.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.CreatedAt.Format(time.RFC3339), revoked)
			}
			return w.Flush()
		},
	}
	addDBFlag(cmd, &db)
	return cmd
}

func newTokensRevokeCmd() *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "revoke a token: requests with it are refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// 0 or -1 was looked up and reported "no token 0", as a
			// task id below 1 was before it was refused.
			id, ok := ids.Parse(args[0]) // ("+1" or "01" was token 1)
			if !ok {
				return fmt.Errorf("token id %q: want a positive number (see `tasker tokens ls`)", args[0])
			}
			st, err := openStore(cmd.Context(), db, openExisting)
			if err != nil {
				return err
			}
			defer st.Close()
			ts, err := st.ListAdminTokens(cmd.Context())
			if err != nil {
				return err
			}
			i := slices.IndexFunc(ts, func(t *store.AdminToken) bool { return t.ID == id })
			switch {
			case i < 0:
				return fmt.Errorf("no token %d (`tasker tokens ls` lists them)", id)
			case ts[i].RevokedAt != nil:
				// Revoking twice changes nothing: say so, rather than
				// "revoked" as if it had just been.
				fmt.Fprintf(cmd.OutOrStdout(), "token %d %q was already revoked at %s; nothing changed\n", id, ts[i].Name, ts[i].RevokedAt.Format(time.RFC3339))
				return nil
			}
			if err := st.RevokeAdminToken(cmd.Context(), id, time.Time{}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %d %q revoked\n", id, ts[i].Name)
			return nil
		},
	}
	addDBFlag(cmd, &db)
	return cmd
}
