package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
)

// WorkerEnv is set in the environment of every bench-worker process: a
// test binary re-executed as a worker looks for it (cmd/tasker's TestMain).
const WorkerEnv = "TASKER_BENCH_WORKER"

// WorkerSubcommand is the subcommand of this executable that runs
// RunWorker: spawned workers run os.Executable() WorkerSubcommand --db …
const WorkerSubcommand = "bench-worker"

// workerStats is what a bench-worker prints, as one JSON line, when it stops.
type workerStats struct {
	Claimed      int64  `json:"claimed"`
	Completed    int64  `json:"completed"`
	Retried      int64  `json:"retried"`
	ClaimTx      int64  `json:"claim_tx"`
	FinishTx     int64  `json:"finish_tx"`
	SQL          int64  `json:"sql"`
	Mallocs      uint64 `json:"mallocs"`
	PeakConns    int32  `json:"peak_conns"`
	PeakAcquired int32  `json:"peak_acquired"`
	PoolWaits    int64  `json:"pool_waits"`
}

// WorkerOptions are the flags of `tasker bench-worker`, which the bench
// passes to the worker processes it spawns.
type WorkerOptions struct {
	DB       string // postgres:// URL, or the SQLite file the bench process made
	Schema   string // the run's schema (Postgres)
	Workload string // W1 to W5c
	ID       string // worker number
}

// RunWorker is one worker process of a run on PostgreSQL: it runs the
// workload's engine until ctx ends (SIGTERM), then stops it gracefully and
// prints its workerStats as one JSON line. It prints "ready" once the
// engine runs.
func RunWorker(ctx context.Context, out io.Writer, o WorkerOptions) (err error) {
	db, schema, wl, id := o.DB, o.Schema, o.Workload, o.ID
	pg := strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
	if db == "" || (pg && schema == "") {
		return errors.New("bench-worker needs --db postgres://… and --schema, or --db with a SQLite file")
	}
	def, err := benchSpec(strings.ToUpper(wl))
	if err != nil {
		return err
	}
	q := &queryCounter{}
	var st store.Store
	var pgst *postgres.Store
	if pg {
		pgst, err = postgres.Open(ctx, db, &postgres.Options{Schema: schema, QueryHooks: []bun.QueryHook{q}})
		st = pgst
	} else {
		st, err = sqlite.Open(ctx, db, &sqlite.Options{QueryHooks: []bun.QueryHook{q}})
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	cfg := benchEngineConfig(st)
	def.configure(&cfg)
	cfg.WorkerID = fmt.Sprintf("bench-%s-%d", id, os.Getpid())
	e, err := engine.New(cfg)
	if err == nil {
		err = def.register(e)
	}
	if err != nil {
		return err
	}
	var sampler *poolSampler
	if pgst != nil {
		sampler = newPoolSampler(pgst)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m0, q0 := ms.Mallocs, q.n.Load()
	done := make(chan error, 1)
	go func() { done <- e.Run(context.WithoutCancel(ctx)) }()
	fmt.Fprintln(out, "ready")
	select {
	case <-ctx.Done():
	case err := <-done:
		sampler.stop()
		return fmt.Errorf("engine stopped by itself: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = e.Stop(sctx)
	cancel()
	err = errors.Join(err, <-done)
	peak := sampler.stop()
	runtime.ReadMemStats(&ms)
	s := e.Stats()
	line, jerr := json.Marshal(workerStats{
		Claimed: s.StepsClaimed, Completed: s.StepsCompleted, Retried: s.StepsRetried, ClaimTx: s.ClaimTransactions, FinishTx: s.FinishTransactions,
		SQL: q.n.Load() - q0, Mallocs: ms.Mallocs - m0, PeakConns: peak.Open, PeakAcquired: peak.Acquired,
		PoolWaits: st.DB().Stats().WaitCount,
	})
	if jerr != nil {
		return errors.Join(err, jerr)
	}
	fmt.Fprintf(out, "%s\n", line)
	return err
}

// benchWorkers are the worker processes of one run.
type benchWorkers struct {
	began  time.Time
	procs  []*benchProc
	exited chan struct{} // closed when the first one exits
	once   sync.Once
}

type benchProc struct {
	cmd     *exec.Cmd
	stderr  bytes.Buffer
	readyCh chan struct{} // closed on "ready"
	readyAt time.Time
	done    chan struct{} // closed when the process has exited
	stats   *workerStats
	err     error
}

// workerCommand returns the command line of worker number id: this very
// executable (the test binary in tests, which dispatches on WorkerEnv).
var workerCommand = func(ctx context.Context, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.CommandContext(ctx, exe, args...), nil
}

// spawnWorkers starts tg.procs bench-worker processes for workload name.
func spawnWorkers(ctx context.Context, tg *benchTarget, name string) (*benchWorkers, error) {
	ws := &benchWorkers{began: time.Now(), exited: make(chan struct{})}
	for i := 1; i <= tg.workers(); i++ {
		args := []string{WorkerSubcommand, "--db", tg.pgURL, "--schema", tg.schema, "--workload", name, "--id", strconv.Itoa(i)}
		if tg.pgURL == "" {
			args = []string{WorkerSubcommand, "--db", tg.sqlitePath, "--workload", name, "--id", strconv.Itoa(i)}
		}
		cmd, err := workerCommand(ctx, args...)
		if err != nil {
			_, _ = ws.stop()
			return nil, err
		}
		cmd.Env = append(os.Environ(), WorkerEnv+"=1")
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = time.Minute
		p := &benchProc{cmd: cmd, readyCh: make(chan struct{}), done: make(chan struct{})}
		cmd.Stderr = &p.stderr
		stdout, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			_, _ = ws.stop()
			return nil, fmt.Errorf("starting worker process %d: %w", i, err)
		}
		ws.procs = append(ws.procs, p)
		go func() {
			defer close(p.done)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				switch {
				case line == "ready":
					p.readyAt = time.Now()
					close(p.readyCh)
				case strings.HasPrefix(line, "{"):
					var s workerStats
					if err := json.Unmarshal([]byte(line), &s); err == nil {
						p.stats = &s
					}
				}
			}
			p.err = cmd.Wait()
			ws.once.Do(func() { close(ws.exited) })
		}()
	}
	return ws, nil
}

// ready waits until every worker runs its engine.
func (ws *benchWorkers) ready(ctx context.Context) error {
	for i, p := range ws.procs {
		select {
		case <-p.readyCh:
		case <-p.done:
			return fmt.Errorf("worker process %d exited before it was ready: %v: %s", i+1, p.err, strings.TrimSpace(p.stderr.String()))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// readyAfter is how long the slowest worker took from the spawn to ready
// (0 when one never was).
func (ws *benchWorkers) readyAfter() time.Duration {
	var last time.Time
	for _, p := range ws.procs {
		select {
		case <-p.readyCh:
			if p.readyAt.After(last) {
				last = p.readyAt
			}
		default:
			return 0
		}
	}
	return last.Sub(ws.began)
}

// stop sends SIGTERM to every worker, waits for them to exit and returns
// what they printed.
func (ws *benchWorkers) stop() ([]workerStats, error) {
	// A worker still starting up may not handle SIGTERM yet (it would die
	// without reporting): the others can finish every workflow before it
	// is ready. Wait for it to be ready (or gone) first.
	giveUp := time.After(time.Minute)
	for _, p := range ws.procs {
		select {
		case <-p.readyCh:
		case <-p.done:
		case <-giveUp:
		}
	}
	for _, p := range ws.procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	var errs []error
	var out []workerStats
	for i, p := range ws.procs {
		select {
		case <-p.done:
		case <-time.After(time.Minute):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		switch {
		case p.err != nil:
			errs = append(errs, fmt.Errorf("worker process %d: %w: %s", i+1, p.err, strings.TrimSpace(p.stderr.String())))
		case p.stats == nil:
			errs = append(errs, fmt.Errorf("worker process %d printed no stats: %s", i+1, strings.TrimSpace(p.stderr.String())))
		default:
			out = append(out, *p.stats)
		}
	}
	return out, errors.Join(errs...)
}
