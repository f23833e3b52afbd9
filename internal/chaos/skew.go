package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// Skewed is a process clock off the real one by Offset, as on a machine
// whose clock drifted: it reads and times by the wall clock shifted, and,
// like the wall clock, leaves the store's writes to the database's clock
// (StoreNow is zero).
type Skewed struct{ Offset time.Duration }

// Now is the wall clock plus the offset.
func (s Skewed) Now() time.Time { return time.Now().Add(s.Offset) }

// After is time.After: a duration does not depend on the offset.
func (Skewed) After(d time.Duration) <-chan time.Time { return time.After(d) }

// StoreNow is zero: the database's clock decides.
func (Skewed) StoreNow() time.Time { return time.Time{} }

// skew is the gap between the two workers' clocks and the real one.
const skew = 5 * time.Minute

// Delays of the skew scenario: a retry's backoff and a durable sleep. A
// worker 5 minutes ahead that fires them early fires them at once; one
// 5 minutes behind that waits by its own clock waits 5 minutes more.
const (
	skewBackoff = time.Second
	skewSleep   = 1500 * time.Millisecond
	skewLate    = time.Minute // far below the skew, far above a loaded machine's lag
)

// clockSkew: two workers, one 5 minutes ahead of the real clock and one 5
// minutes behind, share a database. Retries of DAG steps and of durable
// steps, and durable sleeps, must fire after their delay measured on the
// real clock (the database's), neither early (the worker ahead) nor 5
// minutes late (the worker behind); handlers holding live leases on the
// worker behind must never be taken over by the worker ahead, which leads
// maintenance and whose clock says those leases expired minutes ago.
func clockSkew(ctx context.Context, tg opener, quick bool) (Row, error) {
	s, err := tg.open(ctx)
	if err != nil {
		return Row{}, err
	}
	defer s.Close()
	n := 10
	if quick {
		n = 2
	}
	l := NewLedger()
	var mu sync.Mutex
	var problems []string
	bad := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	failedAt := sync.Map{} // idempotency key -> time the first attempt failed
	// retried fails its first attempt with a backoff and checks, at the
	// second, that the backoff passed on the real clock.
	retried := func(key string, attempt int) error {
		l.Add(key)
		now := time.Now()
		if attempt == 1 {
			failedAt.Store(key, now)
			return engine.Retryable(errors.New("first attempt fails"), skewBackoff)
		}
		if at, ok := failedAt.Load(key); ok {
			if gap := now.Sub(at.(time.Time)); gap < skewBackoff {
				bad("%s: retried %s after its failure, before its backoff of %s", key, gap.Round(time.Millisecond), skewBackoff)
			} else if gap > skewBackoff+skewLate {
				bad("%s: retried %s after its failure, far past its backoff of %s", key, gap.Round(time.Millisecond), skewBackoff)
			}
		}
		return nil
	}
	cfg := func(name string, off time.Duration) engine.Config {
		c := config(s, name)
		// A lease outlives the slow handlers with room to spare on a
		// loaded machine: a takeover can only come from a skewed clock.
		c.Execution.LeaseTTL = 10 * time.Second
		c.Clock = Skewed{Offset: off}
		return c
	}
	ahead, err := engine.New(cfg("ahead", skew))
	if err != nil {
		return Row{}, err
	}
	behind, err := engine.New(cfg("behind", -skew))
	if err != nil {
		return Row{}, err
	}
	// The slow handler holds its lease 3 s (of 10), on the worker behind
	// only, while the worker ahead runs a rescue pass every 100 ms.
	slowFor := 3 * time.Second
	if err := behind.HandleFunc("slow", func(sc *engine.StepContext) (any, error) {
		l.Add(sc.IdempotencyKey)
		select {
		case <-time.After(slowFor):
			return "held", nil
		case <-sc.Done():
			return nil, context.Cause(sc)
		}
	}); err != nil {
		return Row{}, err
	}
	for _, e := range []*engine.Engine{ahead, behind} {
		if err := e.HandleFunc("retried", func(sc *engine.StepContext) (any, error) {
			return sc.Step, retried(sc.IdempotencyKey, sc.Attempt)
		}); err != nil {
			return Row{}, err
		}
		if err := e.Register(&engine.Template{Namespace: "skew", Name: "retry", Steps: []engine.StepTemplate{
			{Name: "s", Handler: "retried", RetryLimit: 5}}}); err != nil {
			return Row{}, err
		}
		if err := e.Register(&engine.Template{Namespace: "skew", Name: "slow", Steps: []engine.StepTemplate{
			{Name: "s", Handler: "slow", RetryLimit: 5, Timeout: time.Minute}}}); err != nil {
			return Row{}, err
		}
	}
	// A code-first flow: a durable step retried after its backoff, then a
	// durable sleep between two recorded readings of the real clock. Each
	// worker has a flow of its own, which only it runs.
	flow := func(w *engine.WorkflowContext, _ int) (time.Duration, error) {
		if _, err := engine.Step(w, "retried", func(ctx context.Context) (string, error) {
			info, _ := engine.StepInfoFrom(ctx)
			return "", retried(info.IdempotencyKey, info.Attempt)
		}, engine.WithStepRetryLimit(5)); err != nil {
			return 0, err
		}
		clockNow := func(ctx context.Context) (time.Time, error) {
			info, _ := engine.StepInfoFrom(ctx)
			l.Add(info.IdempotencyKey)
			return time.Now(), nil
		}
		t0, err := engine.Step(w, "before", clockNow)
		if err != nil {
			return 0, err
		}
		if err := engine.Sleep(w, skewSleep); err != nil {
			return 0, err
		}
		t1, err := engine.Step(w, "after", clockNow)
		return t1.Sub(t0), err
	}
	if err := engine.RegisterWorkflow(ahead, "skew/ahead", flow); err != nil {
		return Row{}, err
	}
	if err := engine.RegisterWorkflow(behind, "skew/behind", flow); err != nil {
		return Row{}, err
	}
	// The worker ahead starts first: it leads maintenance, so its clock is
	// the one that would rescue the slow steps if any did.
	stopAhead, err := run(ctx, ahead)
	if err != nil {
		return Row{}, err
	}
	defer stopAhead()
	stopBehind, err := run(ctx, behind)
	if err != nil {
		return Row{}, err
	}
	defer stopBehind()
	began := time.Now()
	var ids, slow, flows []int64
	for i := range n {
		for _, tpl := range []string{"skew/retry", "skew/slow"} {
			h, err := ahead.Start(ctx, tpl, map[string]int{"n": i})
			if err != nil {
				return Row{}, err
			}
			ids = append(ids, h.TaskID)
			if tpl == "skew/slow" {
				slow = append(slow, h.TaskID)
			}
		}
		for _, w := range []struct {
			e    *engine.Engine
			name string
		}{{ahead, "skew/ahead"}, {behind, "skew/behind"}} {
			h, err := engine.StartWorkflow[int, time.Duration](ctx, w.e, w.name, i)
			if err != nil {
				return Row{}, err
			}
			ids = append(ids, h.TaskID)
			flows = append(flows, h.TaskID)
		}
	}
	// The quick form ends in seconds; a worker that waited by its own
	// clock would take 5 minutes.
	wctx, cancel := context.WithTimeout(ctx, skewLate)
	err = waitAll(wctx, ahead, ids)
	cancel()
	r := Row{Workflows: len(ids), Recovery: time.Since(began)}
	stopBehind()
	stopAhead()
	if err != nil { // the unfinished are counted lost below; the rest still checked
		problems = append(problems, fmt.Sprintf("not all finished within %s: %v", skewLate, err))
	}
	f, err := Check(ctx, s, l, ids)
	r.Lost, r.DoubleCompletions, r.Problems = f.Lost, f.DoubleCompletions, append(f.Problems, problems...)
	r.StaleRefused = int(ahead.Stats().ResultsDiscarded + behind.Stats().ResultsDiscarded)
	if err != nil {
		return r, err
	}
	for _, id := range slow {
		if got := l.Count(fmt.Sprintf("%d:s", id)); got != 1 {
			r.Problems = append(r.Problems, fmt.Sprintf("slow task %d ran %d times: its live lease was taken over", id, got))
		}
		d, err := s.GetTask(ctx, id)
		if err != nil {
			return r, err
		}
		if a := d.Steps[0].Attempts; a != 1 {
			r.Problems = append(r.Problems, fmt.Sprintf("slow task %d took %d attempts, want 1", id, a))
		}
	}
	for _, id := range flows {
		d, err := s.GetTask(ctx, id)
		if err != nil {
			return r, err
		}
		if d.Task.State != store.TaskComplete {
			continue // counted lost
		}
		out, err := ahead.Wait(ctx, id)
		if err != nil {
			return r, err
		}
		var slept time.Duration
		if err := out.DecodeFinal(&slept); err != nil {
			return r, err
		}
		if slept < skewSleep || slept > skewSleep+skewLate {
			r.Problems = append(r.Problems, fmt.Sprintf("flow task %d slept %s on the real clock, want %s", id, slept.Round(time.Millisecond), skewSleep))
		}
	}
	return r, nil
}
