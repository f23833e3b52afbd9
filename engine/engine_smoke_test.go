package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

func newEngine(t *testing.T, cfg engine.Config) *engine.Engine {
	t.Helper()
	if cfg.Store == nil {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "e.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		cfg.Store = s
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func run(t *testing.T, e *engine.Engine) {
	t.Helper()
	done, err := e.RunBackground(context.Background())
	must(t, err)
	t.Cleanup(func() {
		if err := e.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestDiamondRunsToCompletion(t *testing.T) {
	e := newEngine(t, engine.Config{})
	var flaky atomic.Int32
	must(t, e.HandleFunc("sum", func(sc *engine.StepContext) (any, error) {
		var in struct{ N int }
		if err := sc.Input(&in); err != nil {
			return nil, err
		}
		total := in.N
		for _, dep := range []string{"left", "right"} {
			if v, err := engine.Result[int](sc, dep); err == nil {
				total += v
			}
		}
		return total, nil
	}))
	must(t, e.HandleFunc("flaky", func(sc *engine.StepContext) (any, error) {
		if flaky.Add(1) == 1 {
			return nil, engine.Retryable(errors.New("try again"), time.Millisecond)
		}
		return 10, nil
	}))
	must(t, e.Register(&engine.Template{Namespace: "math", Name: "diamond", Steps: []engine.StepTemplate{
		{Name: "root", Handler: "sum"},
		{Name: "left", Handler: "sum", DependsOn: []string{"root"}},
		{Name: "right", Handler: "flaky", DependsOn: []string{"root"}, Backoff: retryFast},
		{Name: "join", Handler: "sum", DependsOn: []string{"left", "right"}},
	}}))
	run(t, e)
	h, err := e.Start(context.Background(), "math/diamond", map[string]int{"N": 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var join int
	if out.State != store.TaskComplete || out.Decode("join", &join) != nil || join != 1+1+10 {
		t.Fatalf("outcome %+v, join %d", out, join)
	}
	if flaky.Load() != 2 {
		t.Fatalf("flaky ran %d times, want 2", flaky.Load())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A Stop with no Run active leaves nothing behind: a later Run runs until
// its own Stop.
func TestStopBeforeRunLeavesNoResidue(t *testing.T) {
	e := newEngine(t, engine.Config{})
	must(t, e.Stop(context.Background()))
	done, err := e.RunBackground(context.Background())
	must(t, err)
	select {
	case <-done:
		t.Fatal("a Run after an earlier Stop returned at once")
	default:
	}
	if !e.Status().Running {
		t.Fatal("RunBackground returned before the engine was running")
	}
	if _, err := e.RunBackground(context.Background()); !errors.Is(err, engine.ErrRunning) {
		t.Fatalf("a second Run: %v, want ErrRunning", err)
	}
	must(t, e.Stop(context.Background()))
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	run(t, e) // and the next Run is a normal one
}

// Close releases the cache an engine used without Run made for itself, and
// leaves a Run alone (Stop ends runs).
func TestCloseReleasesTheCacheNotTheRun(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	must(t, e.SetToggle(ctx, "dynamic_concurrency", true))
	if e.Status().Mode == "" {
		t.Fatal("no cache after SetToggle")
	}
	must(t, e.Close())
	if m := e.Status().Mode; m != "" {
		t.Fatalf("Close left the cache in mode %q", m)
	}
	run(t, e) // Stop (in run's cleanup) ends it
	must(t, e.Close())
	if !e.Status().Running {
		t.Fatal("Close stopped a Run")
	}
}

// Toggle reads a known toggle and refuses a misspelt one, naming the
// known ones (it read as off); SetToggle refuses it in the same words.
func TestToggleRefusesAnUnknownName(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	t.Cleanup(func() { _ = e.Close() }) // the cache SetToggle made
	must(t, e.SetToggle(ctx, "dynamic_concurrency", true))
	if on, err := e.Toggle(ctx, "dynamic_concurrency"); err != nil || !on {
		t.Fatalf("Toggle(dynamic_concurrency) = %v, %v; want on", on, err)
	}
	on, err := e.Toggle(ctx, "dynamic_concurency")
	if err == nil || on || !strings.Contains(err.Error(), `"dynamic_concurency"`) || !strings.Contains(err.Error(), "dynamic_concurrency") {
		t.Fatalf("Toggle of a misspelt name = %v, %v; want an error naming it and the known toggles", on, err)
	}
	// SetToggle refuses it alike, in the same words (its error lacked
	// Toggle's "tasker: ").
	if serr := e.SetToggle(ctx, "dynamic_concurency", true); serr == nil || serr.Error() != err.Error() {
		t.Fatalf("SetToggle of a misspelt name = %v; want Toggle's error, %v", serr, err)
	}
}

// Run returns nil once its run has ended, whether Stop or its ctx ended
// it, as its doc says: it does not return ctx's error.
func TestRunReturnsNilWhenItsContextEnds(t *testing.T) {
	e := newEngine(t, engine.Config{})
	must(t, e.HandleFunc("noop", func(*engine.StepContext) (any, error) { return nil, nil }))
	ctx, cancel := context.WithCancel(context.Background())
	done, err := e.RunBackground(ctx)
	must(t, err)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunBackground's run, its ctx ended: %v, want nil", err)
	}
	if err := e.Run(ctx); err != nil { // its ctx ended already: it stops at once
		t.Fatalf("Run with an ended ctx: %v, want nil", err)
	}
	if e.Status().Running {
		t.Fatal("the engine reports running after Run returned")
	}
}
