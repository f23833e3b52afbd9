package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/faultstore"
	"github.com/tasker-go/tasker/store"
)

// A handler running five times its lease keeps it through heartbeats: a
// second worker polling the same database never takes the step over, and
// it runs once.
func TestLongHandlerKeepsItsLease(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			s := openChaosStore(t, db)
			// Heartbeats every lease/3 (1.33 s): the lease is lost only if
			// the machine stalls the worker for over 2.6 s. With a 2 s lease
			// (a 1.3 s stall) it was lost now and then under the whole
			// race-enabled suite on 2 cores.
			const lease = 4 * time.Second
			var runs atomic.Int32
			handler := func(sc *engine.StepContext) (any, error) {
				runs.Add(1)
				select {
				case <-time.After(5 * lease / 2): // the work outlasts two leases
					return "done", nil
				case <-sc.Context.Done():
					return nil, context.Cause(sc.Context)
				}
			}
			var engines []*engine.Engine
			for _, w := range []string{"a", "b"} {
				cfg := chaosConfig(s, w)
				cfg.Execution.LeaseTTL = lease
				e := newEngine(t, cfg)
				must(t, e.HandleFunc("long", handler))
				must(t, e.Register(&engine.Template{Namespace: "t", Name: "long", Steps: []engine.StepTemplate{{Name: "s", Handler: "long", Timeout: time.Minute}}}))
				engines = append(engines, e)
			}
			h, err := engines[0].Start(context.Background(), "t/long", nil)
			must(t, err)
			for _, e := range engines {
				done, err := e.RunBackground(context.Background())
				must(t, err)
				t.Cleanup(func() { _ = e.Stop(context.Background()); <-done })
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := h.Wait(ctx)
			must(t, err)
			if out.State != store.TaskComplete || runs.Load() != 1 {
				t.Fatalf("task %s after %d runs; want complete after one", out.State, runs.Load())
			}
			d, err := s.GetTask(ctx, h.TaskID)
			must(t, err)
			if d.Steps[0].Attempts != 1 {
				t.Fatalf("step took %d attempts; want 1 (the lease was never lost)", d.Steps[0].Attempts)
			}
		})
	}
}

// A worker whose heartbeats fail loses its lease: its handler is
// cancelled (lease lost) — once the lease must have expired, or when the
// step is claimed again — the step's next attempt completes it (on either
// worker), and the first attempt's late result is discarded.
func TestFailingHeartbeatsLoseTheLease(t *testing.T) {
	t.Parallel()
	s := openChaosStore(t, "sqlite")
	broken, err := faultstore.New(s, 1, faultstore.Rule{Method: "ExtendLeases", Action: faultstore.FailBefore})
	must(t, err)
	completed := make(chan struct{})
	cause := make(chan error, 1)
	handler := func(sc *engine.StepContext) (any, error) {
		if sc.Attempt > 1 {
			return "real", nil
		}
		<-sc.Context.Done()
		cause <- context.Cause(sc.Context)
		<-completed // returns late, after the step completed
		return "late", nil
	}
	mk := func(st store.Store, worker string) *engine.Engine {
		e := newEngine(t, chaosConfig(st, worker))
		must(t, e.HandleFunc("h", handler))
		must(t, e.Register(&engine.Template{Namespace: "t", Name: "hb", Steps: []engine.StepTemplate{{Name: "s", Handler: "h", RetryLimit: 3, Timeout: time.Minute}}}))
		return e
	}
	a := mk(broken.Wrap(), "a")
	h, err := a.Start(context.Background(), "t/hb", nil)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	doneA, err := a.RunBackground(ctx)
	must(t, err)
	// b starts once a holds the step's first attempt.
	for {
		d, err := s.GetTask(ctx, h.TaskID)
		must(t, err)
		if d.Steps[0].State == store.StepInProgress {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("a never claimed the step")
		case <-time.After(10 * time.Millisecond):
		}
	}
	b := mk(s, "b")
	doneB, err := b.RunBackground(ctx)
	must(t, err)
	out, err := h.Wait(ctx)
	must(t, err)
	close(completed)
	select {
	case c := <-cause:
		if c == nil || c.Error() != "lease lost" {
			t.Errorf("the first attempt was cancelled with %v; want lease lost", c)
		}
	case <-ctx.Done():
		t.Fatal("the first attempt was never cancelled although its heartbeats failed past its lease")
	}
	must(t, a.Stop(ctx))
	<-doneA
	must(t, b.Stop(ctx))
	<-doneB
	d, err := s.GetTask(ctx, h.TaskID)
	must(t, err)
	if out.State != store.TaskComplete || string(d.Steps[0].Results) != `"real"` || d.Steps[0].Attempts != 2 {
		t.Fatalf("task %s, result %s after %d attempts; want complete with the second attempt's result", out.State, d.Steps[0].Results, d.Steps[0].Attempts)
	}
	if a.Stats().ResultsDiscarded < 1 {
		t.Fatalf("a discarded %d results; want its late one", a.Stats().ResultsDiscarded)
	}
}

// A Wait whose reads meet transient errors (a dropped connection, a
// server restarting) keeps waiting and returns the outcome; one whose
// reads keep failing ends with its context, naming the last error.
func TestWaitOutlivesTransientReadErrors(t *testing.T) {
	t.Parallel()
	s := openChaosStore(t, "sqlite")
	broken, err := faultstore.New(s, 1, faultstore.Rule{Method: "GetTaskOutcomes", Action: faultstore.FailBefore, Times: 3})
	must(t, err)
	e := newEngine(t, chaosConfig(s, "w"))
	must(t, e.HandleFunc("h", func(sc *engine.StepContext) (any, error) { return "done", nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "w", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}))
	h, err := e.Start(context.Background(), "t/w", nil)
	must(t, err)
	run(t, e)
	waiter := newEngine(t, chaosConfig(broken.Wrap(), "waiter")) // does not run: it only reads
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := waiter.Wait(ctx, h.TaskID)
	must(t, err)
	if out.State != store.TaskComplete || string(out.Results["s"]) != `"done"` {
		t.Fatalf("Wait = %s %s, want complete with s's result", out.State, out.Results["s"])
	}
	if n := len(broken.Injected()); n != 3 {
		t.Fatalf("%d reads failed, want 3 (the rule's)", n)
	}

	dead, err := faultstore.New(s, 1, faultstore.Rule{Method: "GetTaskOutcomes", Action: faultstore.FailBefore})
	must(t, err)
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	_, err = newEngine(t, chaosConfig(dead.Wrap(), "dead")).Wait(short, h.TaskID)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "GetTaskOutcomes") {
		t.Fatalf("Wait on reads that always fail = %v, want the context's end naming the last read", err)
	}
}
