package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store/postgres"
)

// TestOpenRefusesMistakenOptions: Open accepted a WakeupPoll under a
// millisecond (WakeupPoll: 2 is 2 ns: a disconnected listener's ticker
// would spin), a nil query hook (a panic at the first statement), and a
// DSN's pool_max_conns or search_path, which it overrode with MaxConns and
// Schema. Each is refused before Open connects (the DSN here names no
// server).
func TestOpenRefusesMistakenOptions(t *testing.T) {
	const dsn = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	for _, c := range []struct {
		dsn  string
		opts postgres.Options
		want string
	}{
		{dsn, postgres.Options{WakeupPoll: 2}, "wakeup poll 2ns is under a millisecond"},
		// A negative one named neither the option nor its value.
		{dsn, postgres.Options{MaxConns: -1}, "postgres options: max conns must not be negative, got -1"},
		{dsn, postgres.Options{WakeupPoll: -time.Second}, "postgres options: wakeup poll must not be negative, got -1s"},
		{dsn, postgres.Options{QueryHooks: []bun.QueryHook{nil}}, "query hook 0 is nil"},
		// The dsn's pool size and search_path were overridden silently.
		{dsn + "&pool_max_conns=50", postgres.Options{MaxConns: 20}, "pool_max_conns=50 beside Options.MaxConns 20"},
		{dsn + "&pool_min_conns=11", postgres.Options{}, "pool_min_conns=11 is above the pool's size"},
		// Without MaxConns, a pool_max_conns that is no pool size was
		// refused as if it stood "beside Options.MaxConns 10", unset.
		{dsn + "&pool_max_conns=0", postgres.Options{}, "postgres dsn: pool_max_conns=0 is not a pool size (a whole number from 1 to 1048576)"},
		{dsn + "&pool_max_conns=ten", postgres.Options{}, "postgres dsn: pool_max_conns=ten is not a pool size"},
		// Past the largest pool it was refused as Options.MaxConns, unset.
		{dsn + "&pool_max_conns=2000000", postgres.Options{}, "postgres dsn: pool_max_conns=2000000 is not a pool size (a whole number from 1 to 1048576)"},
		{dsn + "&search_path=app", postgres.Options{Schema: "tasker"}, `search_path=app beside Options.Schema "tasker"`},
		// Set through options (libpq's command-line switches), the
		// search_path was overridden as silently: the server applies
		// them before the parameters Open sets.
		{dsn + "&options=-c%20search_path%3Dapp", postgres.Options{Schema: "tasker"}, `postgres dsn: options sets search_path=app beside Options.Schema "tasker"`},
		{dsn + "&options=-c%20statement_timeout%3D5s%20--search-path%3Dapp", postgres.Options{Schema: "tasker"}, `postgres dsn: options sets search_path=app beside Options.Schema "tasker"`},
		{dsn + "&options=-csearch_path%3Dapp", postgres.Options{Schema: "tasker"}, `postgres dsn: options sets search_path=app beside Options.Schema "tasker"`},
		// A dsn's default_transaction_read_only=on failed Open in the
		// server's words ("cannot execute CREATE TABLE in a read-only
		// transaction"), naming neither it nor Options.ReadOnly; off
		// beside ReadOnly was overridden silently.
		{dsn + "&default_transaction_read_only=on", postgres.Options{}, "postgres dsn: default_transaction_read_only=on, which makes every transaction read-only, and Open creates and migrates the schema: set Options.ReadOnly instead"},
		{dsn + "&options=-c%20default_transaction_read_only%3Dtrue", postgres.Options{}, "postgres dsn: options sets default_transaction_read_only=true, which makes every transaction read-only"},
		{dsn + "&default_transaction_read_only=off", postgres.Options{ReadOnly: true}, "postgres dsn: default_transaction_read_only=off beside Options.ReadOnly, which sets it on: give one"},
		// The CLI's ?schema=NAME (README: --db 'postgres://…?schema=shop')
		// copied into Open reached the server as a parameter, which
		// refused every connection: `FATAL: unrecognized configuration
		// parameter "schema"`.
		{dsn + "&schema=shop", postgres.Options{}, `postgres dsn: schema=shop is the tasker CLI's --db parameter, not PostgreSQL's: set Options.Schema to "shop"`},
		{dsn + "&schema=shop", postgres.Options{Schema: "shop"}, `schema=shop is the tasker CLI's --db parameter`},
		// An SQLite path or URL was "failed to parse as keyword/value".
		{"sqlite://x.db", postgres.Options{}, `postgres dsn "sqlite://x.db" is an SQLite URL: open it with sqlite.Open("x.db")`},
		// pgxpool takes a period of 0 or less and its health check's
		// ticker panicked (the CLI's migrate crashed with a stack); a
		// negative lifetime, idle time, jitter or ping timeout and a
		// negative count made no pool that could work as written.
		{dsn + "&pool_health_check_period=0s", postgres.Options{}, "postgres dsn: pool_health_check_period=0s is not a duration above 0"},
		{dsn + "&pool_health_check_period=-1m", postgres.Options{}, "postgres dsn: pool_health_check_period=-1m is not a duration above 0"},
		{dsn + "&pool_max_conn_lifetime=-1h", postgres.Options{}, "postgres dsn: pool_max_conn_lifetime=-1h is not a duration ≥ 0"},
		{dsn + "&pool_max_conn_idle_time=-1s", postgres.Options{}, "postgres dsn: pool_max_conn_idle_time=-1s is not a duration ≥ 0"},
		{dsn + "&pool_max_conn_lifetime_jitter=-1s", postgres.Options{}, "postgres dsn: pool_max_conn_lifetime_jitter=-1s is not a duration ≥ 0"},
		{dsn + "&pool_ping_timeout=-1s", postgres.Options{}, "postgres dsn: pool_ping_timeout=-1s is not a duration ≥ 0"},
		{dsn + "&pool_min_conns=-1", postgres.Options{}, "postgres dsn: pool_min_conns=-1 is not a whole number ≥ 0"},
		{dsn + "&pool_min_idle_conns=-1", postgres.Options{}, "postgres dsn: pool_min_idle_conns=-1 is not a whole number ≥ 0"},
		{dsn + "&pool_min_idle_conns=11", postgres.Options{}, "pool_min_idle_conns=11 is above the pool's size"},
		// A schema with spaces around it (?schema=%20app, or a padded
		// variable) was created under that name, beside the one meant.
		{dsn, postgres.Options{Schema: " app"}, `postgres options: schema " app" has spaces around it: write "app"`},
		{dsn, postgres.Options{Schema: "app\n"}, `postgres options: schema "app\n" has spaces around it: write "app"`},
	} {
		st, err := postgres.Open(context.Background(), c.dsn, &c.opts)
		if err == nil {
			st.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%s, %+v): %v, want an error saying %q", c.dsn, c.opts, err, c.want)
		}
	}
}

// TestDSNPoolSize: a DSN's pool_max_conns without Options.MaxConns is the
// pool's size (Open used to override it with the default of 10), and
// Options.MaxConns alone still is.
func TestDSNPoolSize(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, c := range []struct {
		dsn  string
		opts postgres.Options
		want int32
	}{
		{url + sep + "pool_max_conns=3", postgres.Options{}, 3},
		{url + sep + "pool_max_conns=3", postgres.Options{MaxConns: 3}, 3},
		{url, postgres.Options{MaxConns: 2}, 2},
		{url, postgres.Options{}, postgres.DefaultMaxConns},
	} {
		c.opts.Schema = pgtest.NewSchema(t)
		st, err := postgres.Open(context.Background(), c.dsn, &c.opts)
		if err != nil {
			t.Fatalf("Open(%+v): %v", c.opts, err)
		}
		got := st.Stats().MaxConns
		st.Close()
		if got != c.want {
			t.Errorf("Open(…%s, MaxConns %d): a pool of %d, want %d", strings.TrimPrefix(c.dsn, url), c.opts.MaxConns, got, c.want)
		}
	}
}
