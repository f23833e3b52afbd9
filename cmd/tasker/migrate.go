package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func newMigrateCmd() *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "create or upgrade the schema and print its version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := openStore(ctx, db, openCreate) // opening applies the migrations
			if err != nil {
				return err
			}
			defer st.Close()
			v, ok := st.(interface {
				SchemaVersion(context.Context) (int, error)
			})
			if !ok {
				return fmt.Errorf("the %s store does not report a schema version", st.Capabilities().Dialect)
			}
			n, err := v.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema version %d (%s)\n", n, describe(st, db))
			return nil
		},
	}
	addDBFlag(cmd, &db)
	return cmd
}
