package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
)

// defaultDB is the demo's SQLite file, shared by every subcommand.
const defaultDB = "./tasker-demo.db"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "tasker",
		Short: "Tasker: durable workflows on SQLite or PostgreSQL",
		Long: `Tasker runs workflows (DAGs of steps, or Go code with durable steps) durably on an SQLite file or PostgreSQL.

--db takes an SQLite file path (default ` + defaultDB + `) or a postgres:// URL;
add ?schema=NAME to a URL to use that schema.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDemoCmd(), newTasksCmd(), newEventsCmd(), newApprovalCmd(), newWorkerCmd(), newMigrateCmd(), newBenchCmd(), newBenchWorkerCmd())
	return root
}

// addDBFlag gives a command the --db flag.
func addDBFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "db", defaultDB, "SQLite file path or postgres:// URL")
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openStore opens (creating and migrating as needed) the store dsn names:
// a postgres:// URL or an SQLite file path (optionally sqlite://path).
func openStore(ctx context.Context, dsn string) (store.Store, error) {
	switch {
	case dsn == "":
		return nil, errors.New("--db is empty: give an SQLite file path or a postgres:// URL")
	case isPostgres(dsn):
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, fmt.Errorf("postgres URL: %w", err)
		}
		q := u.Query()
		schema := q.Get("schema")
		q.Del("schema")
		u.RawQuery = q.Encode()
		st, err := postgres.Open(ctx, u.String(), &postgres.Options{Schema: schema})
		if err != nil {
			return nil, fmt.Errorf("opening postgres: %w", err)
		}
		return st, nil
	default:
		path := strings.TrimPrefix(dsn, "sqlite://")
		st, err := sqlite.Open(ctx, path, nil)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		return st, nil
	}
}

// openExisting opens a store that must already exist: commands that only
// inspect or operate on tasks refuse to create an empty SQLite file.
func openExisting(ctx context.Context, dsn string) (store.Store, error) {
	if !isPostgres(dsn) {
		path := strings.TrimPrefix(dsn, "sqlite://")
		if path != sqlite.Memory {
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("no database at %s (run `tasker demo` or `tasker migrate --db %s` first)", path, dsn)
			}
		}
	}
	return openStore(ctx, dsn)
}

// describe names the backend for humans.
func describe(st store.Store, dsn string) string {
	switch s := st.(type) {
	case *sqlite.Store:
		return "SQLite " + s.Path()
	case *postgres.Store:
		u, err := url.Parse(dsn)
		if err != nil {
			return "PostgreSQL"
		}
		return fmt.Sprintf("PostgreSQL %s%s (schema %s)", u.Host, u.Path, s.Schema())
	}
	return st.Capabilities().Dialect
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }
