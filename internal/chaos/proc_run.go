package chaos

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/proctest"
	"github.com/tasker-go/tasker/store"
)

// procRun is one process scenario: a database shared by worker processes
// (children of this binary), the workflows started on it by this process,
// and the ledger file the workers' steps append to.
type procRun struct {
	app     string
	db      place
	s       store.Store
	e       *engine.Engine // starts workflows; never runs them
	dir     string
	ledger  string
	ids     []int64
	workers []*proctest.Child
}

// newProcRun opens a fresh database for a process scenario.
func newProcRun(ctx context.Context, tg opener) (*procRun, error) {
	dir, err := os.MkdirTemp("", "tasker-chaos-proc-")
	if err != nil {
		return nil, err
	}
	r := &procRun{dir: dir, ledger: filepath.Join(dir, "ledger"), app: fmt.Sprintf("tasker_chaos_%d_%d", os.Getpid(), time.Now().UnixNano())}
	r.db = tg.place(r.app)
	if r.s, err = r.db.open(ctx, 4); err != nil {
		r.close()
		return nil, err
	}
	if r.e, err = engine.New(procConfig(r.s, "starter", nil)); err == nil {
		err = registerProc(r.e, nil, "starter", 0)
	}
	if err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// start starts n more workflows (the workers may be running).
func (r *procRun) start(ctx context.Context, n int) error {
	for i := range n {
		h, err := r.e.Start(ctx, "chaos/proc", map[string]int{"n": len(r.ids) + i})
		if err != nil {
			return fmt.Errorf("starting workflow %d: %w", i, err)
		}
		r.ids = append(r.ids, h.TaskID)
	}
	return nil
}

// close kills the workers still running and removes the ledger.
func (r *procRun) close() {
	for _, w := range r.workers {
		w.Kill()
	}
	if r.s != nil {
		_ = r.s.Close()
	}
	_ = os.RemoveAll(r.dir)
}

// worker starts a worker process and waits until it runs.
func (r *procRun) worker(id string, delay time.Duration) (*proctest.Child, error) {
	c, err := spawn(childSpec{Role: "worker", ID: id, DB: r.db.named(r.app + "_" + id), Ledger: r.ledger, StepDelay: delay})
	if err != nil {
		return nil, err
	}
	r.workers = append(r.workers, c)
	if _, err := c.Expect("ready", time.Minute); err != nil {
		return nil, err
	}
	return c, nil
}

// stop ends a worker with SIGTERM (it drains) and returns how many results
// it discarded (stale writes refused).
func stopWorker(c *proctest.Child) (int, error) {
	if err := c.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	l, err := c.Expect("stopped", time.Minute)
	if err != nil {
		return 0, err
	}
	var discarded, warnings int
	if _, err := fmt.Sscanf(l, "stopped %d %d", &discarded, &warnings); err != nil {
		return 0, fmt.Errorf("%s: %q: %w", c.Name, l, err)
	}
	if err := c.Wait(); err != nil {
		return discarded, fmt.Errorf("%s after SIGTERM: %w", c.Name, err)
	}
	return discarded, nil
}

// held returns the steps running under the worker's lease.
func (r *procRun) held(ctx context.Context, worker string) ([]int64, error) {
	var ids []int64
	err := r.s.DB().NewRaw("SELECT id FROM tasker_steps WHERE state = ? AND lease_owner = ?", store.StepInProgress, worker).Scan(ctx, &ids)
	return ids, err
}

// completed counts the complete workflows (0 on a dropped connection).
func (r *procRun) completed(ctx context.Context) int {
	c, err := r.s.CountByState(ctx)
	if err != nil {
		return 0
	}
	return c.Tasks[store.TaskComplete]
}

// waitCompleted waits until at least n workflows are complete.
func (r *procRun) waitCompleted(ctx context.Context, n int, timeout time.Duration) error {
	return poll(ctx, timeout, fmt.Sprintf("%d workflows to complete", n), func() (bool, error) {
		return r.completed(ctx) >= n, nil
	})
}

// stepStates returns the state and attempts of each step.
func (r *procRun) stepStates(ctx context.Context, ids []int64) (map[int64]string, error) {
	var rows []struct {
		ID       int64
		State    string
		Attempts int
	}
	if err := r.s.DB().NewRaw("SELECT id, state, attempts FROM tasker_steps WHERE id IN (?)", bun.List(ids)).Scan(ctx, &rows); err != nil {
		return nil, err
	}
	out := map[int64]string{}
	for _, x := range rows {
		out[x.ID] = fmt.Sprintf("%s after %d attempts", x.State, x.Attempts)
	}
	return out, nil
}

// finish stops the workers still running (adding what they refused to
// r's stale writes) and checks every workflow against the ledger.
func (r *procRun) finish(ctx context.Context, row *Row, running ...*proctest.Child) error {
	for _, w := range running {
		n, err := stopWorker(w)
		row.StaleRefused += n
		if err != nil {
			row.Problems = append(row.Problems, err.Error())
		}
	}
	l := NewLedger()
	f, err := os.Open(r.ledger)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, _, _ := strings.Cut(sc.Text(), " ")
		l.Add(key)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fig, err := Check(ctx, r.s, l, r.ids)
	row.Workflows, row.Lost, row.DoubleCompletions = fig.Workflows, fig.Lost, fig.DoubleCompletions
	row.Problems = append(row.Problems, fig.Problems...)
	return err
}

// poll checks cond every 20 ms until it holds, fails, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
