package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgdsn"
	"github.com/tasker-go/tasker/internal/proctest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
)

// childEnv carries a child's orders (a JSON childSpec). A binary that runs
// the process scenarios calls RunChildIfAsked first thing in main (or
// TestMain): the scenarios re-execute os.Executable() as their workers.
const childEnv = "TASKER_CHAOS_CHILD"

// RunChildIfAsked runs this process as a chaos child and exits when the
// environment says it is one; otherwise it returns at once. `tasker` and
// the test binaries of this package call it before anything else.
func RunChildIfAsked() {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return
	}
	var c childSpec
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Fprintf(os.Stderr, "chaos child: %s: %v\n", childEnv, err)
		os.Exit(2)
	}
	if err := c.run(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos child %s: %v\n", c.ID, err)
		os.Exit(2)
	}
	os.Exit(0)
}

// place is where a scenario's database lives, for its processes.
type place struct {
	SQLite   string `json:",omitempty"` // the file
	Sync     string `json:",omitempty"` // SQLite synchronous: NORMAL or FULL
	Postgres string `json:",omitempty"` // the URL (with application_name)
	Schema   string `json:",omitempty"`
}

// place allocates a fresh database for a scenario whose processes share
// it. On PostgreSQL their connections carry application_name app (so a
// scenario can terminate theirs and nobody else's).
func (o opener) place(app string) place {
	tg := o.tg
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.n++
	if tg.kind == "sqlite" {
		p := place{SQLite: filepath.Join(tg.dir, fmt.Sprintf("chaos-%d.db", tg.n))}
		o.use(p)
		return p
	}
	schema := fmt.Sprintf("tasker_chaos_p%d_%d", os.Getpid(), tg.n)
	tg.drops = append(tg.drops, schema)
	u, _ := url.Parse(tg.dsn) // parsed in newTarget
	u.RawQuery = pgdsn.With(u.RawQuery, "application_name", app)
	p := place{Postgres: u.String(), Schema: schema}
	o.use(place{Postgres: tg.dsn, Schema: schema}) // counted under no application_name
	return p
}

// named is p with the PostgreSQL connections' application_name set to app.
func (p place) named(app string) place {
	if p.Postgres == "" {
		return p
	}
	u, _ := url.Parse(p.Postgres) // built by opener.place
	u.RawQuery = pgdsn.With(u.RawQuery, "application_name", app)
	p.Postgres = u.String()
	return p
}

func (p place) open(ctx context.Context, conns int) (store.Store, error) {
	if p.SQLite != "" {
		return sqlite.Open(ctx, p.SQLite, &sqlite.Options{Synchronous: p.Sync})
	}
	return postgres.Open(ctx, p.Postgres, &postgres.Options{Schema: p.Schema, MaxConns: conns})
}

// childSpec is what a child process is asked to do.
type childSpec struct {
	Role   string // worker, writer (sqlite checkpoints) or filler (disk full)
	ID     string
	DB     place
	Ledger string // worker: the file each step run appends its key to
	// StepDelay: each step takes this long, ignoring cancellation (so a
	// stopped worker's late result reaches the store and is refused).
	StepDelay time.Duration
	// SampleEvery > 0: the worker prints "sample RSS GOROUTINES" so often.
	SampleEvery time.Duration
	// FileLimit > 0: RLIMIT_FSIZE in bytes (filler), SIGXFSZ ignored.
	FileLimit uint64
}

func (c childSpec) run() error {
	switch c.Role {
	case "worker":
		return c.worker()
	case "writer":
		return c.writer()
	case "filler":
		return c.filler()
	}
	return fmt.Errorf("unknown role %q", c.Role)
}

// spawn starts a child of this binary with spec.
func spawn(spec childSpec) (*proctest.Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	dieWithParent(cmd)
	return proctest.Start(spec.ID, cmd)
}

// procConfig: the multi-process tests' settings. A 4 s lease (heartbeats
// every 1.33 s): with 2 s, under the whole race-enabled suite (both
// databases' scenarios at once on 2 cores), a drained worker's heartbeat
// now and then came too late, the other worker rescued its steps, and the
// drain scenario counted them run twice.
func procConfig(s store.Store, id string, log *zap.Logger) engine.Config {
	return engine.Config{Store: s, WorkerID: id, Logger: log, Execution: engine.ExecutionConfig{
		LeaseTTL: 4 * time.Second, RescueInterval: 250 * time.Millisecond, PollInterval: 100 * time.Millisecond,
		MaxConcurrency: 8, BatchSize: 8}}
}

// countingLogger discards the logs and counts the warnings and errors.
func countingLogger() (*zap.Logger, *atomic.Int64) {
	var n atomic.Int64
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.WarnLevel)
	return zap.New(core, zap.Hooks(func(zapcore.Entry) error { n.Add(1); return nil })), &n
}

// registerProc installs the process scenarios' workflow, prepare →
// (left ∥ right) → join, each step appending "<key> <worker>" to ledger
// (nil: nowhere) after delay.
func registerProc(e *engine.Engine, ledger *os.File, id string, delay time.Duration) error {
	var mu sync.Mutex
	if err := e.HandleFunc("proc", func(sc *engine.StepContext) (any, error) {
		time.Sleep(delay) // ignores cancellation: a stopped worker's result comes late
		if ledger != nil {
			mu.Lock()
			_, err := fmt.Fprintf(ledger, "%s %s\n", sc.IdempotencyKey, id)
			mu.Unlock()
			if err != nil {
				return nil, err
			}
		}
		return sc.Step, nil
	}); err != nil {
		return err
	}
	return e.Register(&engine.Template{Namespace: "chaos", Name: "proc", Steps: []engine.StepTemplate{
		{Name: "prepare", Handler: "proc", RetryLimit: 10},
		{Name: "left", Handler: "proc", DependsOn: []string{"prepare"}, RetryLimit: 10},
		{Name: "right", Handler: "proc", DependsOn: []string{"prepare"}, RetryLimit: 10},
		{Name: "join", Handler: "proc", DependsOn: []string{"left", "right"}, RetryLimit: 10},
	}})
}

// engine opens the child's store and ledger and returns its engine with
// the workflow registered (steps taking delay), the count of warnings it
// logs, and what closes them all.
func (c childSpec) engine(delay time.Duration) (*engine.Engine, *atomic.Int64, func(), error) {
	s, err := c.DB.open(context.Background(), 4)
	if err != nil {
		return nil, nil, nil, err
	}
	ledger, err := os.OpenFile(c.Ledger, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	closeAll := func() { ledger.Close(); s.Close() }
	log, warnings := countingLogger()
	e, err := engine.New(procConfig(s, c.ID, log))
	if err == nil {
		err = registerProc(e, ledger, c.ID, delay)
	}
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return e, warnings, closeAll, nil
}

// worker runs the workflow until SIGTERM (a drain: Stop) or SIGKILL,
// printing "ready" once running and "stopped DISCARDED WARNINGS" at the end.
func (c childSpec) worker() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	e, warnings, closeAll, err := c.engine(c.StepDelay)
	if err != nil {
		return err
	}
	defer closeAll()
	done, err := e.RunBackground(context.Background())
	if err != nil {
		return err
	}
	fmt.Println("ready")
	if c.SampleEvery > 0 {
		go sample(ctx, c.SampleEvery)
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = e.Stop(stopCtx)
	<-done
	fmt.Printf("stopped %d %d\n", e.Stats().ResultsDiscarded, warnings.Load())
	return err
}
