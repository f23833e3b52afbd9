package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// registerWrite installs the checkpoint scenario's one-step workflow.
func registerWrite(e *engine.Engine) error {
	if err := e.HandleFunc("write", func(sc *engine.StepContext) (any, error) { return sc.TaskID, nil }); err != nil {
		return err
	}
	return e.Register(&engine.Template{Namespace: "chaos", Name: "write", Steps: []engine.StepTemplate{{Name: "s", Handler: "write", RetryLimit: 10}}})
}

// writer (SQLite) writes as hard as it can until it is killed: it starts
// one-step workflows from 4 goroutines and runs them, while the WAL is
// checkpointed all the time (autocheckpoint every 8 pages, and a
// TRUNCATE checkpoint every 5 ms). It prints "started ID" once a start
// returned and "done ID" once the completion of the task's step is
// committed (the engine's event comes after the commit): the lines are in
// the pipe before the next write, so a kill loses none of them.
func (c childSpec) writer() error {
	ctx := context.Background()
	s, err := c.DB.open(ctx, 4)
	if err != nil {
		return err
	}
	if _, err := s.DB().ExecContext(ctx, "PRAGMA wal_autocheckpoint=8"); err != nil {
		return err
	}
	log, _ := countingLogger()
	cfg := procConfig(s, c.ID, log)
	cfg.Execution.MaxConcurrency, cfg.Execution.BatchSize = 32, 32
	e, err := engine.New(cfg)
	if err == nil {
		err = registerWrite(e)
	}
	if err != nil {
		return err
	}
	events, _ := e.Subscribe(1 << 16)
	if _, err := e.RunBackground(ctx); err != nil {
		return err
	}
	go func() {
		for {
			_, _ = s.DB().ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
			time.Sleep(5 * time.Millisecond) // the checkpoint's pace: a load, not a synchronisation
		}
	}()
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				h, err := e.Start(ctx, "chaos/write", map[string]string{"n": fmt.Sprintf("%s-%d-%d", c.ID, g, i)})
				if err == nil {
					fmt.Printf("started %d\n", h.TaskID)
				}
			}
		}()
	}
	fmt.Println("ready")
	for ev := range events {
		if ev.Name == engine.EventStepCompleted {
			fmt.Printf("done %d\n", ev.TaskID)
		}
	}
	return nil
}

// integrity runs PRAGMA integrity_check; "" means ok.
func integrity(ctx context.Context, s store.Store) (string, error) {
	var res []string
	if err := s.DB().NewRaw("PRAGMA integrity_check").Scan(ctx, &res); err != nil {
		return "", err
	}
	if len(res) == 1 && res[0] == "ok" {
		return "", nil
	}
	return strings.Join(res, "; "), nil
}

// checkpointKill (SQLite): a writer process is killed with SIGKILL at a
// random moment of heavy writing and checkpointing, rounds times, on the
// same file. After each kill the file passes integrity_check, every start
// the writer acknowledged exists and every completion it acknowledged is
// recorded. At the end one engine runs what is left: every workflow
// completes once.
func checkpointKill(sync string) func(ctx context.Context, tg opener, quick bool) (Row, error) {
	return func(ctx context.Context, tg opener, quick bool) (Row, error) {
		rounds := 20
		if quick {
			rounds = 3
		}
		db := tg.place("")
		db.Sync = sync
		var row Row
		bad := func(format string, args ...any) { row.Problems = append(row.Problems, fmt.Sprintf(format, args...)) }
		var acks, starts int
		for round := range rounds {
			w, err := spawn(childSpec{Role: "writer", ID: fmt.Sprintf("writer%d", round), DB: db})
			if err != nil {
				return row, err
			}
			if _, err := w.Expect("done", time.Minute); err != nil {
				w.Kill()
				return row, err
			}
			time.Sleep(time.Duration(50+rand.IntN(450)) * time.Millisecond) // the random moment of the kill
			w.Kill()
			started, done := map[int64]bool{}, map[int64]bool{}
			for _, l := range w.Drain() {
				kind, id, _ := strings.Cut(l, " ")
				n, err := strconv.ParseInt(id, 10, 64)
				switch {
				case err != nil:
				case kind == "started":
					started[n] = true
				case kind == "done":
					done[n] = true
				}
			}
			acks, starts = acks+len(done), starts+len(started)
			s, err := db.open(ctx, 1)
			if err != nil {
				return row, fmt.Errorf("round %d: reopening after the kill: %w", round, err)
			}
			msg, err := integrity(ctx, s)
			if err == nil && msg != "" {
				bad("round %d: integrity_check: %s", round, msg)
			}
			if err == nil {
				var missing, notDone int
				missing, notDone, err = acknowledged(ctx, s, started, done)
				if missing > 0 {
					bad("round %d: %d acknowledged starts are not in the file", round, missing)
				}
				if notDone > 0 {
					row.Lost += notDone
					bad("round %d: %d acknowledged completions are not in the file", round, notDone)
				}
			}
			_ = s.Close()
			if err != nil {
				return row, err
			}
		}
		row.Notes = append(row.Notes, fmt.Sprintf("%d kills; %d acknowledged completions and %d acknowledged starts found in the file", rounds, acks, starts))
		// What the kills left running is rescued and finished.
		s, err := db.open(ctx, 4)
		if err != nil {
			return row, err
		}
		defer s.Close()
		e, err := engine.New(config(s, "finisher"))
		if err == nil {
			err = registerWrite(e)
		}
		if err != nil {
			return row, err
		}
		began := time.Now()
		stop, err := run(ctx, e)
		if err != nil {
			return row, err
		}
		defer stop()
		var total int
		err = poll(ctx, 3*time.Minute, "every workflow to complete", func() (bool, error) {
			c, err := s.CountByState(ctx)
			if err != nil {
				return false, err
			}
			total = 0
			for _, n := range c.Tasks {
				total += n
			}
			return c.Tasks[store.TaskComplete] == total, nil
		})
		row.Workflows, row.Recovery = total, time.Since(began)
		if err != nil {
			return row, err
		}
		stop()
		row.DoubleCompletions, err = doubleCompletions(ctx, s)
		return row, err
	}
}

// acknowledged counts the acknowledged starts missing from the file and
// the acknowledged completions not recorded there.
func acknowledged(ctx context.Context, s store.Store, started, done map[int64]bool) (missing, notDone int, err error) {
	var rows []struct {
		TaskID int64
		State  string
	}
	if err := s.DB().NewRaw("SELECT task_id, state FROM tasker_steps").Scan(ctx, &rows); err != nil {
		return 0, 0, err
	}
	state := map[int64]string{}
	for _, r := range rows {
		state[r.TaskID] = r.State
	}
	for id := range started {
		if _, ok := state[id]; !ok {
			missing++
		}
	}
	for id := range done {
		if state[id] != string(store.StepComplete) {
			notDone++
		}
	}
	return missing, notDone, nil
}

// doubleCompletions counts the steps with two moves to complete.
func doubleCompletions(ctx context.Context, s store.Store) (int, error) {
	var n int
	err := s.DB().NewRaw(`SELECT count(*) FROM (SELECT step_id FROM tasker_step_transitions WHERE to_state = 'complete'
		GROUP BY step_id HAVING count(*) > 1) d`).Scan(ctx, &n)
	return n, err
}

// filler (SQLite, disk full) runs the workflows, and starts more, in a
// process whose files may not grow past FileLimit bytes (RLIMIT_FSIZE,
// SIGXFSZ ignored: writes past it fail with EFBIG, as on a full disk). It
// prints "started ID" for each start that returned, "error …" for the
// first failures, and "full N" after 20 failed starts; on SIGTERM it stops
// and prints "stopped DISCARDED WARNINGS" and exits 0 (a panic would not).
func (c childSpec) filler() error {
	if err := limitFileSize(c.FileLimit); err != nil {
		return fmt.Errorf("limiting file sizes: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	e, warnings, closeAll, err := c.engine(0)
	if err != nil {
		return err
	}
	defer closeAll()
	done, err := e.RunBackground(context.Background())
	if err != nil {
		return err
	}
	pad := strings.Repeat("x", 2048)
	failed := 0
	for i := 0; failed < 20 && ctx.Err() == nil; i++ {
		h, err := e.Start(context.Background(), "chaos/proc", map[string]any{"filler": i, "pad": pad})
		if err == nil {
			fmt.Printf("started %d\n", h.TaskID)
			continue
		}
		if failed++; failed <= 3 {
			fmt.Printf("error %v\n", err)
		}
		time.Sleep(20 * time.Millisecond) // a caller's pause before it tries again
	}
	fmt.Printf("full %d\n", failed)
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	serr := e.Stop(stopCtx)
	<-done
	fmt.Printf("stopped %d %d %v\n", e.Stats().ResultsDiscarded, warnings.Load(), serr)
	return nil
}

// diskFull (SQLite): workflows run in a process whose files may grow only
// 128 KiB (RLIMIT_FSIZE); it keeps starting more until starts fail. The
// failures are errors (the process neither panics nor dies), the file
// passes integrity_check, and a worker without the limit then completes
// every workflow, those of the full process included.
func diskFull(ctx context.Context, tg opener, quick bool) (Row, error) {
	n := 100
	if quick {
		n = 20
	}
	r, err := newProcRun(ctx, tg)
	if err != nil {
		return Row{}, err
	}
	defer r.close()
	var row Row
	if err := r.start(ctx, n); err != nil {
		return row, err
	}
	if _, err := r.s.DB().ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return row, err
	}
	fi, err := os.Stat(r.db.SQLite)
	if err != nil {
		return row, err
	}
	f, err := spawn(childSpec{Role: "filler", ID: "filler", DB: r.db, Ledger: r.ledger, FileLimit: uint64(fi.Size()) + 128<<10})
	if err != nil {
		return row, err
	}
	r.workers = append(r.workers, f)
	var errs []string
	timeout := time.After(2 * time.Minute)
	for full := false; !full; {
		var l string
		var ok bool
		select {
		case l, ok = <-f.Lines():
		case <-timeout:
			return row, fmt.Errorf("the full process's starts did not fail within 2 minutes")
		}
		if !ok {
			return row, fmt.Errorf("the full process exited before its starts failed (see its stderr)")
		}
		kind, rest, _ := strings.Cut(l, " ")
		switch kind {
		case "started":
			id, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				return row, fmt.Errorf("filler: %q", l)
			}
			r.ids = append(r.ids, id)
		case "error":
			errs = append(errs, rest)
		case "full":
			full = true
		}
	}
	// EFBIG is SQLite's "disk I/O error" (SQLITE_IOERR_WRITE); a full
	// disk (ENOSPC) would be "database or disk is full". Either way the
	// start reports it.
	if len(errs) == 0 {
		row.Problems = append(row.Problems, "the full process's starts failed without an error printed")
	} else {
		row.Notes = append(row.Notes, "the full process's starts failed with: "+errs[0])
	}
	if err := f.Signal(syscall.SIGTERM); err != nil {
		return row, err
	}
	l, err := f.Expect("stopped", time.Minute)
	if err != nil {
		return row, err
	}
	if err := f.Wait(); err != nil {
		row.Problems = append(row.Problems, fmt.Sprintf("the full process ended badly: %v (%s)", err, l))
	}
	var discarded int
	_, _ = fmt.Sscanf(l, "stopped %d", &discarded)
	row.StaleRefused += discarded
	msg, err := integrity(ctx, r.s)
	if err != nil {
		return row, err
	}
	if msg != "" {
		row.Problems = append(row.Problems, "integrity_check after the disk was full: "+msg)
	}
	began := time.Now()
	w, err := r.worker("after", 0)
	if err != nil {
		return row, err
	}
	if err := r.waitCompleted(ctx, len(r.ids), 3*time.Minute); err != nil {
		return row, err
	}
	row.Recovery = time.Since(began)
	return row, r.finish(ctx, &row, w)
}
