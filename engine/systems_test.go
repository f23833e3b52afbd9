package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/testkit"
)

// paymentsFlow registers one step calling the "payments" system; the
// handler's behaviour is given per call.
func paymentsFlow(t *testing.T, e *engine.Engine, h engine.HandlerFunc) {
	t.Helper()
	must(t, e.HandleFunc("pay", h))
	must(t, e.Register(&engine.Template{Namespace: "shop", Name: "pay", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "pay", DependentSystem: "payments", Backoff: retryFast, RetryLimit: 5},
	}}))
}

// A 429 with Retry-After seen by one step holds back every step that calls
// the same system until the pause ends, without counting their attempts.
func TestRetryAfterPausesTheSystemForOtherSteps(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	start := env.Clock.Now()
	var mu sync.Mutex
	ran := map[int]time.Time{}
	paymentsFlow(t, env.Engine, func(sc *engine.StepContext) (any, error) {
		var in struct{ N int }
		_ = sc.Input(&in)
		mu.Lock()
		defer mu.Unlock()
		if in.N == 1 && sc.Attempt == 1 {
			return nil, engine.Retryable(errors.New("429 Too Many Requests"), 30*time.Second)
		}
		ran[in.N] = env.Clock.Now()
		return "paid", nil
	})
	ctx := context.Background()
	a, _ := env.Start(ctx, "shop/pay", map[string]int{"N": 1})
	if n, err := env.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("first attempt: %d, %v", n, err)
	}
	// Started during the pause, another payment waits for it to end.
	b, _ := env.Start(ctx, "shop/pay", map[string]int{"N": 2})
	env.RunUntilDone(a.TaskID, b.TaskID)
	for n, at := range ran {
		if at.Sub(start) < 30*time.Second {
			t.Fatalf("payment %d ran %s after the 429, before its 30 s Retry-After", n, at.Sub(start))
		}
	}
	if d := env.Task(b.TaskID); d.Steps[0].Attempts != 1 || d.Task.State != store.TaskComplete {
		t.Fatalf("held step: attempts %d (want 1: waiting is not an attempt), task %s", d.Steps[0].Attempts, d.Task.State)
	}
	if got := env.Status().Mode; got != "local_only" {
		t.Fatalf("coordination mode %q, want local_only", got)
	}
}

// Two engines (two processes' worth of clients) on one store: with a
// shared Redis, a 429 seen by one holds the system back in the other; with
// local caches it does not.
func TestPauseIsSharedOnlyThroughRedis(t *testing.T) {
	url := os.Getenv("TASKER_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TASKER_TEST_REDIS_URL is not set: CI must run ./scripts/test.sh")
		}
		t.Skip("set TASKER_TEST_REDIS_URL (source scripts/redis.sh) to run Redis tests")
	}
	for _, distributed := range []bool{true, false} {
		t.Run(fmt.Sprintf("distributed=%v", distributed), func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "shared.db"), nil)
			must(t, err)
			defer s.Close()
			fake := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			ns := fmt.Sprintf("t%d", time.Now().UnixNano())
			newEng := func(id string, h engine.HandlerFunc) *engine.Engine {
				cfg := engine.Config{Store: s, Clock: fake, WorkerID: id}
				if distributed {
					cfg.Cache.Distributed = url
					cfg.Cache.Redis.Namespace = ns
				}
				e, err := engine.New(cfg)
				must(t, err)
				t.Cleanup(func() { _ = e.Stop(context.Background()) })
				paymentsFlow(t, e, h)
				return e
			}
			a := newEng("a", func(*engine.StepContext) (any, error) {
				return nil, engine.Retryable(errors.New("429"), time.Minute)
			})
			var bRan atomic.Int32
			b := newEng("b", func(*engine.StepContext) (any, error) { bRan.Add(1); return "paid", nil })
			_, err = a.Start(ctx, "shop/pay", map[string]int{"N": 1})
			must(t, err)
			if n, err := a.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("engine a: %d, %v", n, err)
			}
			hb, _ := b.Start(ctx, "shop/pay", map[string]int{"N": 2})
			if _, err := b.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			d, _ := s.GetTask(ctx, hb.TaskID)
			if distributed && (bRan.Load() != 0 || d.Steps[0].State != store.StepPending) {
				t.Fatalf("with Redis, engine b ran the paused system's step (%d runs, step %s)", bRan.Load(), d.Steps[0].State)
			}
			if !distributed && (bRan.Load() != 1 || d.Task.State != store.TaskComplete) {
				t.Fatalf("with local caches, engine b should not know of a's pause (%d runs, task %s)", bRan.Load(), d.Task.State)
			}
			want := map[bool]string{true: "distributed_atomic", false: "local_only"}[distributed]
			if got := b.Status().Mode; got != want {
				t.Fatalf("mode %q, want %q", got, want)
			}
		})
	}
}

// Redis dies mid-run and comes back: every workflow completes (the cache
// fails open to local behaviour); Redis never held workflow state.
func TestRedisKilledMidRun(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not installed: CI must run ./scripts/test.sh")
		}
		t.Skip("redis-server not installed (source scripts/redis.sh)")
	}
	port := freePort(t)
	startRedis := func() *exec.Cmd {
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		must(t, cmd.Start())
		waitForPort(t, port)
		return cmd
	}
	redis := startRedis()
	t.Cleanup(func() { _ = redis.Process.Kill(); _ = redis.Wait() })

	var calls atomic.Int32
	halfway := make(chan struct{})
	e := newEngine(t, engine.Config{Cache: cachex.Config{Distributed: fmt.Sprintf("redis://127.0.0.1:%d/0", port),
		Fallback: cachex.FallbackConfig{RetryInterval: 50 * time.Millisecond}}})
	paymentsFlow(t, e, func(sc *engine.StepContext) (any, error) {
		if calls.Add(1) == 100 {
			close(halfway)
		}
		return "paid", nil
	})
	run(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var hs []*engine.TaskHandle
	for i := range 300 {
		h, err := e.Start(ctx, "shop/pay", map[string]int{"N": i})
		must(t, err)
		hs = append(hs, h)
	}
	<-halfway
	_ = redis.Process.Kill() // Redis gone mid-run
	_ = redis.Wait()
	for _, h := range hs[:150] {
		out, err := h.Wait(ctx)
		must(t, err)
		if out.State != store.TaskComplete {
			t.Fatalf("task %d ended %s without Redis", h.TaskID, out.State)
		}
	}
	redis = startRedis() // and back
	for _, h := range hs[150:] {
		out, err := h.Wait(ctx)
		must(t, err)
		if out.State != store.TaskComplete {
			t.Fatalf("task %d ended %s", h.TaskID, out.State)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitForPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis did not listen on %d", port)
		}
		time.Sleep(10 * time.Millisecond) // polling a port until it accepts
	}
}

// sharedStore is a cache of the user's own that says it is shared: the
// engine probes it for its mode.
type sharedStore struct{ *cachex.Local }

func (sharedStore) Capabilities() cachex.Capabilities {
	return cachex.Capabilities{Distributed: true}
}

// A first use of the cache on a context already done is refused with the
// context's error, and the mode is detected on the next use. The probe
// read the refused Incr and Lock as a store that cannot do them, and the
// engine kept distributed_basic for its life, its Toggle answering off.
func TestCoordinationIsNotDetectedOnADoneContext(t *testing.T) {
	local, err := cachex.NewLocal(cachex.LocalConfig{})
	must(t, err)
	t.Cleanup(func() { local.Close() })
	e := newEngine(t, engine.Config{CacheStore: sharedStore{local}})
	t.Cleanup(func() { _ = e.Close() })
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if on, err := e.Toggle(done, cachex.ToggleDynamicConcurrency); !errors.Is(err, context.Canceled) {
		t.Errorf("Toggle on a cancelled context = %v, %v; want context.Canceled", on, err)
	}
	if _, err := e.Toggle(context.Background(), cachex.ToggleDynamicConcurrency); err != nil {
		t.Fatal(err)
	}
	if m := e.Status().Mode; m != cachex.ModeDistributedAtomic.String() {
		t.Fatalf("mode = %q; want distributed_atomic (the probe on a live context)", m)
	}
}

// SetToggle on a distributed cache sets the toggle for every engine
// sharing the Redis; while Redis does not answer it is refused, naming
// why, and sets nothing: failing open, it stored the toggle in this
// process only and returned nil, and the value was gone once Redis
// answered again.
func TestSetToggleIsRefusedWhileRedisIsDown(t *testing.T) {
	ctx := context.Background()
	url := os.Getenv("TASKER_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TASKER_TEST_REDIS_URL is not set: CI must run ./scripts/test.sh")
		}
		t.Skip("set TASKER_TEST_REDIS_URL (source scripts/redis.sh) to run Redis tests")
	}
	ns := fmt.Sprintf("t%d", time.Now().UnixNano())
	shared := func() *engine.Engine {
		e := newEngine(t, engine.Config{Cache: cachex.Config{Distributed: url, Redis: cachex.RedisConfig{Namespace: ns}}})
		t.Cleanup(func() { _ = e.Close() })
		return e
	}
	a, b := shared(), shared()
	must(t, a.SetToggle(ctx, cachex.ToggleAdaptiveTTL, true))
	if on, err := b.Toggle(ctx, cachex.ToggleAdaptiveTTL); err != nil || !on {
		t.Fatalf("another engine on the Redis reads %v, %v; want on", on, err)
	}

	down := newEngine(t, engine.Config{Logger: zap.NewNop(), Cache: cachex.Config{Distributed: fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t))}})
	t.Cleanup(func() { _ = down.Close() })
	err := down.SetToggle(ctx, cachex.ToggleAdaptiveTTL, true)
	if err == nil || !strings.Contains(err.Error(), "Redis") || !strings.Contains(err.Error(), cachex.ToggleAdaptiveTTL) {
		t.Fatalf("SetToggle with Redis down = %v; want it refused, naming Redis and the toggle", err)
	}
	if on, err := down.Toggle(ctx, cachex.ToggleAdaptiveTTL); err != nil || on {
		t.Fatalf("after the refused SetToggle the toggle reads %v, %v; want its default, off", on, err)
	}
}
