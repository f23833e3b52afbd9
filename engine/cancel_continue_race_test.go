package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// continueGate holds the creation of a ContinueAsNew's next run: until
// start is closed before it (entered closed on arrival), and until release
// is closed after it (created closed then, next set). A CancelTask of
// gated, when set, first lets the creation through and waits for it: the
// next run is created between Cancel's check and its cancel.
type continueGate struct {
	store.Store
	entered, start, created, release chan struct{}
	next                             int64
	gated                            int64
}

func (g *continueGate) CreateTask(ctx context.Context, p *store.CreateTaskParams) (*store.CreateTaskResult, error) {
	if !bytes.Contains(p.Context, []byte("continued_from")) {
		return g.Store.CreateTask(ctx, p)
	}
	close(g.entered)
	<-g.start
	res, err := g.Store.CreateTask(ctx, p)
	if err == nil {
		g.next = res.Task.ID
	}
	close(g.created)
	<-g.release
	return res, err
}

func (g *continueGate) CancelTask(ctx context.Context, p *store.CancelTaskParams) (*store.Task, error) {
	if p.TaskID == g.gated {
		close(g.start)
		<-g.created
	}
	return g.Store.CancelTask(ctx, p)
}

// A Cancel and a ContinueAsNew of the same run racing leave no run of the
// workflow going on: the run ends cancelled, as Cancel reported, and so
// does the next run ContinueAsNew created, whichever committed first.
// The next run, created after Cancel's check, ran on: the workflow went
// on while its caller was told it was cancelled.
func TestCancelRacingContinueAsNewCancelsTheNextRun(t *testing.T) {
	for _, c := range []struct {
		name, db    string
		createFirst bool // the next run is created before the cancel commits
	}{{"created before the cancel", "sqlite", true}, {"cancelled before the create", "sqlite", false},
		{"created before the cancel", "postgres", true}, {"cancelled before the create", "postgres", false}} {
		t.Run(c.db+"/"+c.name, func(t *testing.T) {
			s, _, run, next := cancelWhileContinuing(t, c.db, c.createFirst)
			if st := taskState(t, s, run); st != store.TaskCancelled {
				t.Errorf("the cancelled run is %s, want cancelled", st)
			}
			if st := taskState(t, s, next); st != store.TaskCancelled {
				t.Errorf("the next run is %s, want cancelled with the run it continues", st)
			}
		})
	}
}

// A run cancelled while it continued as new is linked to its next run
// (cancelled with it) by Runs, and SendEvent refers a sender to the
// chain, as for a run that continued: Runs said the run had no next, the
// chain's last being the cancelled run, and SendEvent refused the event
// as if the workflow had ended there.
func TestCancelledRunKeepsItsNextRun(t *testing.T) {
	ctx := context.Background()
	_, e, run, next := cancelWhileContinuing(t, "sqlite", false)
	links, err := e.Runs(ctx, run)
	if err != nil || links.ContinuedAs != next || links.Last != next {
		t.Errorf("Runs of the cancelled run: %+v, %v; want continued as (and last) task %d", links, err, next)
	}
	if links, err := e.Runs(ctx, next); err != nil || links.ContinuedFrom != run {
		t.Errorf("Runs of the next run: %+v, %v; want continued from task %d", links, err, run)
	}
	_, err = e.SendEvent(ctx, run, "late", "k1", 1)
	if !errors.Is(err, engine.ErrEventRefused) || !strings.Contains(err.Error(), fmt.Sprintf("continued as new as task %d", next)) {
		t.Errorf("SendEvent to the cancelled run: %v; want ErrEventRefused naming its next run, task %d", err, next)
	}
}

// cancelWhileContinuing starts a workflow on db, and cancels its first run
// while it continues as new: the cancel commits after ContinueAsNew
// created the next run (createFirst) or before. It returns the store, the
// engine, the run and the next run.
func cancelWhileContinuing(t *testing.T, db string, createFirst bool) (store.Store, *engine.Engine, int64, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openChaosStore(t, db)
	g := &continueGate{Store: s, entered: make(chan struct{}), start: make(chan struct{}), created: make(chan struct{}), release: make(chan struct{})}
	e := newEngine(t, engine.Config{Store: g, WorkerID: "w"})
	must(t, engine.RegisterWorkflow(e, "t/loop", func(wctx *engine.WorkflowContext, n int) (int, error) {
		if n > 0 {
			return engine.WaitEvent[int](wctx, "never", time.Hour)
		}
		if _, err := engine.WaitEvent[int](wctx, "go", time.Hour); err != nil {
			return 0, err
		}
		return 0, engine.ContinueAsNew(wctx, 1)
	}))
	h, err := engine.StartWorkflow[int, int](ctx, e, "t/loop", 0)
	must(t, err)
	_, err = e.RunOnce(ctx) // it waits for "go"
	must(t, err)
	_, err = e.SendEvent(ctx, h.TaskID, "go", "", 0)
	must(t, err)
	ran := make(chan error, 1)
	go func() { _, err := e.RunOnce(ctx); ran <- err }()
	<-g.entered // the run is in ContinueAsNew, about to create the next run
	if createFirst {
		g.gated = h.TaskID
	}
	if err := e.Cancel(ctx, h.TaskID, "no longer needed"); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if createFirst {
		// Cancel alone (ContinueAsNew is held) ended the next run.
		if st := taskState(t, s, g.next); st != store.TaskCancelled {
			t.Errorf("the next run, created before the cancel committed, is %s once Cancel returned; want cancelled", st)
		}
	} else {
		close(g.start)
	}
	close(g.release)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if g.next == 0 {
		t.Fatal("no next run was created")
	}
	return s, e, h.TaskID, g.next
}
