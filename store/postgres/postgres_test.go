package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// open opens a store on schema (a fresh one when empty) with a small pool,
// so parallel tests stay far below the server's connection limit.
func open(t *testing.T, schema string, opts *postgres.Options) *postgres.Store {
	t.Helper()
	url := pgtest.URL(t)
	if schema == "" {
		schema = pgtest.NewSchema(t)
	}
	o := postgres.Options{MaxConns: 4}
	if opts != nil {
		o = *opts
	}
	o.Schema = schema
	s, err := postgres.Open(context.Background(), url, &o)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) store.Store { return open(t, "", nil) })
}

// TestConcurrentMigration opens one fresh schema from several pools at
// once: the advisory lock makes them queue, so each migration (and the
// schema itself) is created exactly once and every Open succeeds.
func TestConcurrentMigration(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	schema := pgtest.NewSchema(t)
	const openers = 4
	stores := make([]*postgres.Store, openers)
	errs := make([]error, openers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range openers {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(context.Background(), url, &postgres.Options{Schema: schema, MaxConns: 2})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		t.FailNow()
	}
	s := stores[0]
	var versions []int
	if err := s.DB().NewRaw("SELECT version FROM tasker_schema_migrations ORDER BY version").Scan(context.Background(), &versions); err != nil {
		t.Fatal(err)
	}
	want := postgres.MigrationVersions()
	if !slices.Equal(versions, want) {
		t.Fatalf("applied migrations %v, want %v once each", versions, want)
	}
	if n, err := s.Migrate(context.Background()); err != nil || n != 0 {
		t.Fatalf("migrating again applied %d (%v), want 0", n, err)
	}
	if v, err := s.SchemaVersion(context.Background()); err != nil || v != want[len(want)-1] {
		t.Fatalf("schema version %d (%v), want %d", v, err, want[len(want)-1])
	}
}

// TestSchemasIsolate: two stores in different schemas of one database see
// only their own tasks.
func TestSchemasIsolate(t *testing.T) {
	t.Parallel()
	a, b := open(t, "", nil), open(t, "", nil)
	if a.Schema() == b.Schema() {
		t.Fatal("fresh schemas share a name")
	}
	ctx := context.Background()
	if _, err := a.CreateTask(ctx, newTask("only-in-a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetTaskByIdentity(ctx, "only-in-a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the other schema's task: %v", err)
	}
	if _, err := a.GetTaskByIdentity(ctx, "only-in-a"); err != nil {
		t.Fatal(err)
	}
}

// TestJSONStoredAsJSONB checks that documents land as jsonb values of the
// right type (not as jsonb strings holding the text) and read back.
func TestJSONStoredAsJSONB(t *testing.T) {
	t.Parallel()
	s := open(t, "", nil)
	ctx := context.Background()
	p := newTask("json")
	p.Context = store.JSON(`{"n": 1, "list": [1, 2], "s": "naïve \"q\" \\ 🚀"}`)
	res, err := s.CreateTask(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var row struct {
		Type string `bun:"type"`
		N    int    `bun:"n"`
		S    string `bun:"s"`
	}
	if err := s.DB().NewRaw("SELECT jsonb_typeof(context) AS type, (context->>'n')::int AS n, context->>'s' AS s FROM tasker_tasks WHERE id = ?",
		res.Task.ID).Scan(ctx, &row); err != nil {
		t.Fatal(err)
	}
	if row.Type != "object" || row.N != 1 || row.S != "naïve \"q\" \\ 🚀" {
		t.Fatalf("stored context: %+v", row)
	}
	got, err := s.GetTask(ctx, res.Task.ID)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := got.Task.Context.Decode(&v); err != nil || v["s"] != row.S {
		t.Fatalf("context read back as %s (%v)", got.Task.Context, err)
	}
}

// TestConnectionBudget runs more concurrent transactions than the pool
// has connections: none fails, the server never sees more connections
// than the budget, and the waits show in Stats.
func TestConnectionBudget(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	app := "budget_" + strings.ReplaceAll(t.Name(), "/", "_")
	schema := pgtest.NewSchema(t)
	s, err := postgres.Open(context.Background(), url+"&application_name="+app, &postgres.Options{Schema: schema, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var peak atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := s.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				var n []int64
				if err := tx.NewRaw("SELECT count(*) FROM pg_stat_activity WHERE application_name = ?", app).Scan(ctx, &n); err != nil {
					return err
				}
				for cur := peak.Load(); n[0] > cur && !peak.CompareAndSwap(cur, n[0]); cur = peak.Load() {
				}
				// Hold the connection a little so the others must queue.
				_, err := tx.ExecContext(ctx, "SELECT pg_sleep(0.02)")
				return err
			})
			if err != nil {
				t.Errorf("transaction: %v", err)
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if p := peak.Load(); p < 1 || p > 2 {
		t.Fatalf("server saw %d connections of a budget of 2", p)
	}
	if st.MaxConns != 2 || st.TotalConns > 2 || st.WaitCount == 0 || st.WaitDuration <= 0 {
		t.Fatalf("stats %+v: want max 2, at most 2 open, waits counted", st)
	}

	// A caller whose context ends while waiting gets the context's error.
	hold, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hold2, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = s.GetTask(short, 1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("query on a saturated pool with an ending context: %v", err)
	}
	hold.Close()
	hold2.Close()
}

// TestTerminatedConnections: after the server kills every pooled
// connection, operations fail at most with ErrRetryable and then work.
func TestTerminatedConnections(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	app := "terminated_" + strings.ReplaceAll(t.Name(), "/", "_")
	schema := pgtest.NewSchema(t)
	s, err := postgres.Open(context.Background(), url+"&application_name="+app, &postgres.Options{Schema: schema, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.CreateTask(ctx, newTask("before")); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app)
	for i := range 3 {
		_, err := s.CreateTask(ctx, newTask(fmt.Sprintf("after-%d", i)))
		if err != nil && !errors.Is(err, store.ErrRetryable) {
			t.Fatalf("after the server dropped the connections: %v, want success or ErrRetryable", err)
		}
		if err == nil {
			return
		}
	}
	t.Fatal("the store did not recover from dropped connections")
}

func newTask(key string) *store.CreateTaskParams {
	return &store.CreateTaskParams{Namespace: "pg", Name: "t", Kind: store.KindDAG, IdentityKey: key,
		Steps: []store.NewStep{{Name: "a", Handler: "h"}}}
}

func TestOptionsRefused(t *testing.T) {
	ctx := context.Background()
	for _, o := range []postgres.Options{{MaxConns: -1}, {WakeupPoll: -time.Second}, {Schema: strings.Repeat("s", 64)}} {
		if s, err := postgres.Open(ctx, "postgres://nowhere.invalid/db", &o); err == nil {
			s.Close()
			t.Errorf("Open accepted %+v", o)
		}
	}
	if _, err := postgres.Open(ctx, "postgres://%zz", nil); err == nil {
		t.Error("Open accepted a malformed DSN")
	}
}

// TestGenericPlans: every connection plans the store's prepared statements
// once (plan_cache_mode force_generic_plan) and prices a read by key as on
// an SSD (random_page_cost 1.1), unless the DSN says otherwise.
func TestGenericPlans(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	for _, c := range []struct{ dsn, mode, cost string }{
		{url, "force_generic_plan", "1.1"},
		{url + "&plan_cache_mode=auto", "auto", "1.1"},
		{url + "&random_page_cost=2.5", "force_generic_plan", "2.5"},
	} {
		s, err := postgres.Open(context.Background(), c.dsn, &postgres.Options{Schema: pgtest.NewSchema(t), MaxConns: 2})
		if err != nil {
			t.Fatalf("postgres.Open(%s): %v", c.dsn, err)
		}
		var mode, cost string
		err = s.DB().NewRaw("SELECT current_setting('plan_cache_mode'), current_setting('random_page_cost')").Scan(context.Background(), &mode, &cost)
		s.Close()
		if err != nil || mode != c.mode || cost != c.cost {
			t.Errorf("with DSN %s: plan_cache_mode = %q, random_page_cost = %q (%v); want %q, %q", c.dsn, mode, cost, err, c.mode, c.cost)
		}
	}
}

// TestRefreshStats: a table whose size has at least doubled since its
// statistics were taken is analyzed, once; others are left.
func TestRefreshStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := pgtest.NewSchema(t)
	s := open(t, schema, nil)
	pgtest.GrowTasks(t, schema, 12_000)
	if n := reltuples(t, s, "tasker_tasks"); n >= 12_000 {
		t.Fatalf("tasker_tasks analyzed before RefreshStats: reltuples %v", n)
	}
	got, err := s.RefreshStats(ctx)
	if err != nil || !slices.Equal(got, []string{"tasker_steps", "tasker_tasks"}) {
		t.Fatalf("RefreshStats = %v, %v; want the two grown tables", got, err)
	}
	if n := reltuples(t, s, "tasker_tasks"); n < 12_000 {
		t.Fatalf("tasker_tasks after RefreshStats: reltuples %v, want its 12,000 rows", n)
	}
	if again, err := s.RefreshStats(ctx); err != nil || len(again) != 0 {
		t.Fatalf("RefreshStats again = %v, %v; want nothing to analyze", again, err)
	}
}

// A store that adds rows analyzes the tables it grew, in the background
// (autovacuum is off on them here).
func TestStoreAnalyzesWhatItGrows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := pgtest.NewSchema(t)
	s := open(t, schema, nil)
	pgtest.Exec(t, "ALTER TABLE "+pgx.Identifier{schema}.Sanitize()+".tasker_steps SET (autovacuum_enabled = false)")
	for i := 0; i < 30; i++ {
		ps := make([]*store.CreateTaskParams, 100)
		for j := range ps {
			ps[j] = newTask(fmt.Sprintf("grow-%d-%d", i, j))
		}
		if _, err := s.CreateTasks(ctx, ps); err != nil {
			t.Fatal(err)
		}
	}
	pgtest.WaitFor(t, "tasker_steps analyzed", 20*time.Second, 10*time.Millisecond, func() bool { return reltuples(t, s, "tasker_steps") > 0 })
}

func reltuples(t *testing.T, s *postgres.Store, table string) (n float64) {
	t.Helper()
	if err := s.DB().NewRaw("SELECT reltuples FROM pg_class WHERE oid = to_regclass(?)", table).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}
