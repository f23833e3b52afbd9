package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/internal/cliconfig"
	"github.com/tasker-go/tasker/internal/pgdsn"
	"github.com/tasker-go/tasker/internal/writable"
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

--db takes an SQLite file path (default TASKER_DB when set, except for demo, else ` + defaultDB + `;
or sqlite://PATH) or a postgres:// URL; add ?schema=NAME to a URL to use that
schema. Only demo,
worker, approval start and migrate create or migrate a database; tasks ls,
tasks show, workers, explain, report, schedules list and tokens ls open it read-only, and the other commands need it to exist at the
current schema version (` + "`tasker migrate`" + ` upgrades it).

TASKER_* variables set the configuration (see --config of worker, serve and
lint; TASKER_CONFIG, when set, is their --config). Every command refuses to start
when one looks like a misspelt variable of the configuration
(TASKER_EXECUTON_QUEUES: did you mean TASKER_EXECUTION_QUEUES?) or is a name
other tools give a database URL (TASKER_DATABASE_URL: did you mean
TASKER_DB?); other TASKER_ names are left alone.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var logs logFlags
	logs.add(root)
	// A TASKER_ variable that looks like a misspelt one of the
	// configuration's is refused before any command does anything.
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := errors.Join(cliconfig.CheckEnv(os.Environ()), logs.check(), logs.checkUsed(cmd)); err != nil {
			return err
		}
		return dbFromEnv(cmd)
	}
	root.AddCommand(newDemoCmd(), newTasksCmd(), newEventsCmd(), newApprovalCmd(), newWorkerCmd(), newMigrateCmd(),
		newLintCmd(), newBenchCmd(), newBenchWorkerCmd(), newVersionCmd(), newWorkersCmd(), newExplainCmd(),
		newServeCmd(), newTokensCmd(), newChaosCmd(), newSchedulesCmd(), newReportCmd())
	refuseUnknownSubcommands(root)
	refuseUnknownHelpTopics(root)
	return root
}

// refuseUnknownHelpTopics makes `tasker help WORD…` fail when the words
// name no command: cobra's help printed "Unknown help topic" and the
// usage, and exited 0.
func refuseUnknownHelpTopics(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	help, _, err := root.Find([]string{"help"})
	if err != nil || help == root || help.Run == nil {
		return
	}
	show := help.Run
	help.Run = nil
	help.RunE = func(c *cobra.Command, args []string) error {
		words := slices.DeleteFunc(slices.Clone(args), func(a string) bool { return strings.HasPrefix(a, "-") })
		target, rest, err := c.Root().Find(words)
		if len(words) > 0 && (err != nil || target == nil || len(rest) > 0) {
			if target == nil {
				target = c.Root()
			}
			if len(rest) == 0 {
				rest = words
			}
			msg := fmt.Sprintf("unknown help topic %q (%s help lists the commands)", strings.Join(words, " "), c.Root().Name())
			if target.SuggestionsMinimumDistance <= 0 {
				target.SuggestionsMinimumDistance = 2 // cobra's default, set only on its own path
			}
			if s := target.SuggestionsFor(rest[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return errors.New(msg)
		}
		show(c, args)
		return nil
	}
}

// refuseUnknownSubcommands makes every command group (tasks, events, …)
// fail on a word that is not one of its subcommands: cobra would print the
// group's help and exit 0, so `tasker tasks cancle 1` looked like success.
// A group given no word at all prints its help, as before.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknownSubcommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() || !cmd.HasParent() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		var names []string
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() {
				names = append(names, c.Name())
			}
		}
		msg := fmt.Sprintf("unknown command %q for %q (one of: %s)", args[0], cmd.CommandPath(), strings.Join(names, ", "))
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's default, set only on its own path
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return errors.New(msg)
	}
}

// addDBFlag gives a command the --db flag, whose default TASKER_DB
// overrides (dbFromEnv).
func addDBFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "db", defaultDB, "SQLite file path or postgres:// URL; TASKER_DB, when set, replaces the default")
	_ = cmd.Flags().SetAnnotation("db", dbFlagAnnotation, []string{"TASKER_DB"})
}

// dbFlagAnnotation marks the --db flags addDBFlag made (bench's and
// chaos's --db, fresh databases of their own, are others).
const dbFlagAnnotation = "tasker_db_env"

// dbFromEnv gives cmd's --db, when not given, the value of TASKER_DB, so
// that every command works on the database the worker's configuration
// names: tasks ls, tasks cancel… read the demo's file instead, or told the
// user to migrate it. worker and serve read TASKER_DB with the rest of
// their configuration (loadSettings), which also refuses it empty.
func dbFromEnv(cmd *cobra.Command) error {
	f := cmd.Flags().Lookup("db")
	if f == nil || f.Changed || f.Annotations[dbFlagAnnotation] == nil || cmd.Flags().Lookup("config") != nil {
		return nil
	}
	v, ok := os.LookupEnv("TASKER_DB")
	if !ok {
		return nil
	}
	if _, err := parseDBFrom("TASKER_DB", v); err != nil {
		return err
	}
	return f.Value.Set(v)
}

// dbTarget is what --db names: an SQLite file or a PostgreSQL schema.
type dbTarget struct {
	dsn    string // as given
	path   string // SQLite
	pgURL  string // PostgreSQL, without ?schema=
	schema string // PostgreSQL
}

// parseDB checks --db: an SQLite file path (optionally sqlite://PATH) or a
// postgres:// URL with an optional ?schema=NAME; any other URL scheme is
// refused rather than taken for a file name.
func parseDB(dsn string) (*dbTarget, error) { return parseDBFrom("--db", dsn) }

// parseDBFrom is parseDB of a value from, which its errors name: "--db",
// "TASKER_DB" or the configuration's "FILE:LINE: db".
func parseDBFrom(from, dsn string) (*dbTarget, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, fmt.Errorf("%s is empty: give an SQLite file path or a postgres:// URL", from)
	}
	// A padded variable ("x.db ") created a file of that name, beside
	// the database meant.
	if err := padded(from, dsn); err != nil {
		return nil, err
	}
	t := &dbTarget{dsn: dsn}
	scheme, rest, isURL := strings.Cut(dsn, "://")
	switch {
	case !isURL:
		// "sqlite:x.db" or "postgres//host/db" is a URL missing part of
		// its "://", not a file of that name (which opened or created it).
		for _, sep := range []string{":", "//", ":/"} {
			if s, _, ok := strings.Cut(dsn, sep); ok && knownScheme(s) {
				shown := hidePassword(dsn)
				return nil, fmt.Errorf("%s %s looks like a URL without \"://\": write %s://…, or ./%s for a file of that name", from, shown, strings.ToLower(s), shown)
			}
		}
		if keywordDSN(dsn) {
			return nil, fmt.Errorf("%s %q is a PostgreSQL key=value connection string: write it as a postgres:// URL (postgres://USER@HOST:PORT/DBNAME?sslmode=…), or ./%s for a file of that name", from, dsn, dsn)
		}
		t.path = dsn
	case strings.EqualFold(scheme, "sqlite"):
		if rest == "" {
			return nil, fmt.Errorf("%s %s names no file (sqlite://PATH)", from, dsn)
		}
		t.path = rest
	case strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"):
		u, err := url.Parse(dsn)
		if err != nil {
			// Without url.Parse's quote of the URL, password and all.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("%s: postgres URL: %w", from, err)
		}
		q := u.Query()
		if s, ok := q["schema"]; ok && (len(s) != 1 || s[0] == "") {
			return nil, fmt.Errorf("%s: ?schema= needs one schema name (got %q); leave it out for the connection's current schema", from, s)
		}
		t.schema = q.Get("schema")
		if err := checkSchemaParam(t.schema, q); err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
		u.RawQuery = pgdsn.Without(u.RawQuery, "schema")
		t.pgURL = u.String()
		if err := checkPostgresURL(t.pgURL); err != nil {
			return nil, fmt.Errorf("%s: postgres URL: %w", from, err)
		}
	default:
		return nil, fmt.Errorf("%s: unsupported URL scheme %q (give an SQLite file path, sqlite://PATH or a postgres:// URL)", from, scheme)
	}
	// SQLite reads a ? in the path as the start of URI parameters: it
	// opened the part before it and dropped the rest unread (or, for a
	// pragma, created the file, then failed). The store refuses a # and
	// an SQLite URI too, in words for programs (set sqlite.Options).
	if strings.ContainsAny(t.path, "?#") {
		return nil, fmt.Errorf("%s %s: an SQLite path takes no ?parameters or #fragment (the store sets its own pragmas); give the file's path alone", from, dsn)
	}
	if p, ok := strings.CutPrefix(t.path, "file:"); ok {
		return nil, fmt.Errorf("%s %s is an SQLite URI: give the file's path alone (%s), or sqlite://%s", from, dsn, p, p)
	}
	return t, nil
}

// checkSchemaParam refuses, before anything is opened, the ?schema= the
// store would refuse in words for programs, naming Options.Schema, which
// a CLI user never set.
func checkSchemaParam(schema string, q url.Values) error {
	switch {
	case schema == "":
		return nil
	case strings.TrimSpace(schema) != schema:
		return fmt.Errorf("?schema=%q has spaces around it: write ?schema=%s", schema, strings.TrimSpace(schema))
	case len(schema) > 63 || strings.IndexByte(schema, 0) >= 0:
		return fmt.Errorf("?schema=%q is not a schema name (at most 63 bytes, no NUL)", schema)
	case q.Has("search_path"):
		return fmt.Errorf("?schema=%s beside ?search_path=%s, which it replaces (every connection's search_path is the schema): give one", schema, q.Get("search_path"))
	}
	if v, ok := pgdsn.Settings(q.Get("options"))["search_path"]; ok {
		return fmt.Errorf("?schema=%s beside ?options setting search_path=%s, which it replaces (every connection's search_path is the schema): give one", schema, v)
	}
	return nil
}

// checkPostgresURL refuses, before anything is opened, the URL the store
// would refuse: its errors ("opening postgres: parsing postgres dsn: …")
// named neither TASKER_DB nor the configuration's line that gave it.
func checkPostgresURL(u string) error {
	pc, err := pgconn.ParseConfig(u)
	if err != nil {
		return err
	}
	if err := pgdsn.CheckPool(pc.RuntimeParams, postgres.DefaultMaxConns); err != nil {
		return err
	}
	_, err = pgxpool.ParseConfig(u) // the pool's parameters that do not parse
	return err
}

// padded refuses a value with spaces around it, named what: an event name,
// an idempotency key or an expense id so given (a padded variable) is
// another one than meant, matching nothing the unpadded one does.
func padded(what, v string) error {
	if t := strings.TrimSpace(v); t != v && t != "" {
		return fmt.Errorf("%s %q has spaces around it: write %q", what, v, t)
	}
	return nil
}

// keywordDSN reports whether s reads as a libpq key=value connection
// string ("host=db dbname=tasker"), which pgx takes but --db does not: it
// was opened as an SQLite file of that name, created and migrated.
func keywordDSN(s string) bool {
	k, _, ok := strings.Cut(s, "=")
	if !ok {
		return false
	}
	switch strings.TrimSpace(k) {
	case "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "sslmode", "service", "connect_timeout", "application_name", "options", "target_session_attrs":
		return true
	}
	return false
}

// hidePassword is s, a URL that does not parse as one, with what reads
// as a password (between the user's ':' and the '@') written xxxxx, as
// pgx writes it in its errors.
func hidePassword(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := strings.LastIndex(s[:at], "/") + 1
	if c := strings.Index(s[start:at], ":"); c >= 0 {
		return s[:start+c+1] + "xxxxx" + s[at:]
	}
	return s
}

// knownScheme reports whether s names a URL scheme --db takes.
func knownScheme(s string) bool {
	return strings.EqualFold(s, "sqlite") || strings.EqualFold(s, "postgres") || strings.EqualFold(s, "postgresql")
}

// shown is the --db value to print: a postgres URL without its password.
func (t *dbTarget) shown() string {
	if t.pgURL == "" {
		return t.dsn
	}
	if u, err := url.Parse(t.dsn); err == nil {
		return u.Redacted()
	}
	return "postgres://…"
}

// openMode says what a command may do to the database it opens.
type openMode int

const (
	// openCreate creates the SQLite file or Postgres schema when missing
	// and migrates it: migrate, demo, worker, approval start.
	openCreate openMode = iota
	// openReadOnly changes nothing: the database must exist with Tasker's
	// schema at this version (tasks ls, tasks show).
	openReadOnly
	// openExisting writes to a database that must already exist with
	// Tasker's schema at this version (tasks cancel/retry/resolve, events
	// send): a mistyped --db is refused, not created or migrated.
	openExisting
)

// openStore opens the store --db names, as mode allows.
func openStore(ctx context.Context, dsn string, mode openMode) (store.Store, error) {
	t, err := parseDB(dsn)
	if err != nil {
		return nil, err
	}
	if mode != openReadOnly {
		if err := t.checkWritable(); err != nil {
			return nil, err
		}
	}
	if mode != openCreate {
		st, err := t.open(ctx, true)
		if err != nil || mode == openReadOnly {
			return st, err
		}
		// It is there and current: open it for writing (which then
		// neither creates nor migrates anything).
		if err := st.Close(); err != nil {
			return nil, err
		}
	}
	return t.open(ctx, false)
}

// checkWritable refuses, for a command that writes, a postgres --db whose
// default_transaction_read_only makes every transaction read-only (the
// store's error named Options.ReadOnly, which a CLI user never set), and
// an SQLite file this user may not write: the store refuses it too, but
// the commands that need it to exist open it read-only first, and SQLite
// left its -shm file there, this user's, which the owner's writer could
// then not write.
func (t *dbTarget) checkWritable() error {
	if t.pgURL == "" {
		if _, err := os.Stat(t.path); err != nil {
			return nil // the store reports it
		}
		if err := writable.Check(t.path); err != nil {
			return fmt.Errorf("opening sqlite %s: it is not writable (%w)", t.path, err)
		}
		return nil
	}
	pc, err := pgconn.ParseConfig(t.pgURL)
	if err != nil {
		return nil // the store reports it
	}
	v, inOptions, _ := pgdsn.Setting(pc.RuntimeParams, "default_transaction_read_only")
	if on, _ := pgdsn.Bool(v); on {
		where := ""
		if inOptions {
			where = " (in options)"
		}
		return fmt.Errorf("--db: default_transaction_read_only=%s%s makes every transaction read-only, and this command writes: leave it out", v, where)
	}
	return nil
}

func (t *dbTarget) open(ctx context.Context, readOnly bool) (store.Store, error) {
	if t.pgURL != "" {
		st, err := postgres.Open(ctx, t.pgURL, &postgres.Options{Schema: t.schema, ReadOnly: readOnly})
		if err != nil {
			return nil, t.openError("opening postgres", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, t.path, &sqlite.Options{ReadOnly: readOnly})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && readOnly {
			return nil, fmt.Errorf("no database at %s (run `tasker migrate --db %s` or `tasker demo --db %s` first)", t.path, shellQuote(t.dsn), shellQuote(t.dsn))
		}
		return nil, t.openError("", err) // sqlite's errors name the file
	}
	return st, nil
}

// openError adds to a refused schema the command that fixes it.
func (t *dbTarget) openError(action string, err error) error {
	var se *store.SchemaError
	if errors.As(err, &se) {
		if se.Found > se.Want {
			return se
		}
		return fmt.Errorf("%w: run `tasker migrate --db %s`", se, shellQuote(t.shown()))
	}
	if action == "" {
		return err
	}
	return fmt.Errorf("%s: %w", action, err)
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
