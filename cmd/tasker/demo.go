package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/orderflow"
	"github.com/tasker-go/tasker/store"
)

type demoOptions struct {
	orders      int
	db          string
	concurrency int
}

func newDemoCmd() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "run the order workflow on many orders and summarise",
		Long: `demo registers the example order workflow (examples/orderflow), starts --orders
new orders (every third one's payment fails once and is retried), runs them to
completion and prints a summary. Each run adds new orders to the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().IntVar(&o.orders, "orders", 200, "orders to run")
	cmd.Flags().IntVar(&o.concurrency, "concurrency", 0, "most handlers running at once (0: the engine's default, 32)")
	addDBFlag(cmd, &o.db)
	return cmd
}

// tracker follows the lifecycle events of a set of tasks.
type tracker struct {
	mu       sync.Mutex
	mine     map[int64]bool
	finished map[int64]string // by task id: the last task event seen
	complete int              // of mine
	failed   int              // of mine
	changed  chan struct{}
}

func newTracker() *tracker {
	return &tracker{mine: map[int64]bool{}, finished: map[int64]string{}, changed: make(chan struct{}, 1)}
}

func (t *tracker) add(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mine[id] = true
	t.count(id, t.finished[id], +1)
}

func (t *tracker) count(id int64, ev string, sign int) {
	switch ev {
	case engine.EventTaskCompleted:
		t.complete += sign
	case engine.EventTaskFailed:
		t.failed += sign
	}
}

// consume reads events until the channel closes.
func (t *tracker) consume(events <-chan engine.Event) {
	for ev := range events {
		if ev.Name != engine.EventTaskCompleted && ev.Name != engine.EventTaskFailed {
			continue
		}
		t.set(ev.TaskID, ev.Name)
	}
}

func (t *tracker) set(id int64, ev string) {
	t.mu.Lock()
	if t.mine[id] {
		t.count(id, t.finished[id], -1)
		t.count(id, ev, +1)
	}
	t.finished[id] = ev
	t.mu.Unlock()
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func (t *tracker) counts() (complete, failed, total int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.complete, t.failed, len(t.mine)
}

// resync reads the state of every unfinished task of mine from the store:
// the fallback for events the subscription dropped.
func (t *tracker) resync(ctx context.Context, st store.Store) error {
	t.mu.Lock()
	var open []int64
	for id := range t.mine {
		if t.finished[id] == "" {
			open = append(open, id)
		}
	}
	t.mu.Unlock()
	for _, id := range open {
		d, err := st.GetTask(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case d.Task.State == store.TaskComplete:
			t.set(id, engine.EventTaskCompleted)
		case d.Task.State.Done():
			t.set(id, engine.EventTaskFailed)
		}
	}
	return nil
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	if o.orders < 1 {
		return fmt.Errorf("--orders must be at least 1, got %d", o.orders)
	}
	if o.concurrency < 0 {
		return fmt.Errorf("--concurrency must not be negative, got %d", o.concurrency)
	}
	st, err := openStore(ctx, o.db)
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st, Execution: engine.ExecutionConfig{MaxConcurrency: o.concurrency}})
	if err != nil {
		return err
	}
	if err := orderflow.Register(e, orderflow.Options{}); err != nil {
		return err
	}
	fmt.Fprintf(out, "tasker demo: %d orders of %s@%s on %s\n", o.orders, orderflow.Workflow, orderflow.Version, describe(st, o.db))

	tr := newTracker()
	events, unsubscribe := e.Subscribe(max(4096, 16*o.orders))
	consumed := make(chan struct{})
	go func() { defer close(consumed); tr.consume(events) }()

	runDone := make(chan error, 1)
	began := time.Now()
	go func() { runDone <- e.Run(context.WithoutCancel(ctx)) }()
	stopEngine := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err := e.Stop(sctx)
		if rerr := <-runDone; err == nil {
			err = rerr
		}
		unsubscribe()
		<-consumed
		return err
	}

	progress := func(final bool) {
		c, f, _ := tr.counts()
		s := e.Stats()
		line := fmt.Sprintf("\r  %d/%d orders done (%d complete, %d error), %d retries, %s",
			c+f, o.orders, c, f, s.StepsRetried, time.Since(began).Round(100*time.Millisecond))
		if final {
			line += "\n"
		}
		fmt.Fprint(out, line)
	}
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()

	var startErr error
	for i := 1; i <= o.orders; i++ {
		h, err := e.Start(ctx, orderflow.Workflow, orderflow.SampleOrder(i), engine.Unique())
		if err != nil {
			startErr = err
			break
		}
		tr.add(h.TaskID)
		select {
		case <-ticker.C:
			progress(false)
		default:
		}
	}
	_, _, started := tr.counts()
	var waitErr error
	if startErr == nil {
	wait:
		for {
			if c, f, _ := tr.counts(); c+f == started {
				break
			}
			select {
			case <-tr.changed:
			case <-ticker.C:
				progress(false)
				if e.Stats().EventsDropped > 0 {
					if err := tr.resync(ctx, st); err != nil {
						waitErr = err
						break wait
					}
				}
			case <-ctx.Done():
				waitErr = ctx.Err()
				break wait
			}
		}
	}
	wall := time.Since(began)
	progress(true)
	stopErr := stopEngine()
	switch {
	case startErr != nil:
		return fmt.Errorf("starting orders: %w", startErr)
	case waitErr != nil:
		return fmt.Errorf("interrupted with %d orders started: %w", started, waitErr)
	case stopErr != nil:
		return fmt.Errorf("stopping the engine: %w", stopErr)
	}

	complete, failed, _ := tr.counts()
	s := e.Stats()
	w := newTable(out)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "orders\t%d\n", started)
	fmt.Fprintf(w, "  complete\t%d\n", complete)
	fmt.Fprintf(w, "  error\t%d\n", failed)
	fmt.Fprintf(w, "steps run\t%d\t(%d completed, %d failed)\n", s.StepsClaimed, s.StepsCompleted, s.StepsFailed)
	fmt.Fprintf(w, "retries\t%d\n", s.StepsRetried)
	fmt.Fprintf(w, "transactions\t%d\t(%d claims, %d completions)\n", s.ClaimTransactions+s.FinishTransactions, s.ClaimTransactions, s.FinishTransactions)
	fmt.Fprintf(w, "wall time\t%s\n", wall.Round(time.Millisecond))
	fmt.Fprintf(w, "workflows/s\t%.1f\n", float64(started)/wall.Seconds())
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\ninspect them: tasker tasks ls --db %s\n", o.db)
	if failed > 0 {
		return fmt.Errorf("%d of %d orders ended in error", failed, started)
	}
	return nil
}
