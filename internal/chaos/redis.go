package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
)

// redisServer is a redis-server of the scenario's own, on a free loopback
// port with a directory of its own: killing it touches no one else's.
type redisServer struct {
	bin, dir string
	port     int
	cmd      *exec.Cmd
}

func startRedisServer(ctx context.Context) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not installed (apt-get install redis-server, or source scripts/redis.sh)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir, err := os.MkdirTemp("", "tasker-chaos-redis-")
	if err != nil {
		return nil, err
	}
	r := &redisServer{bin: bin, dir: dir, port: port}
	return r, r.start(ctx)
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start(ctx context.Context) error {
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server on %d: %w", r.port, err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(ctx).Err() != nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %d does not answer PING after 10 s", r.port)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

func (r *redisServer) flush(ctx context.Context) error {
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	return c.FlushAll(ctx).Err()
}

// kill stops the server with SIGKILL and waits for it.
func (r *redisServer) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *redisServer) close() {
	r.kill()
	_ = os.RemoveAll(r.dir)
}

// redisLoss: two workers declare a distributed cache (a Redis of the
// scenario's own) and run workflows whose steps call a dependent system
// (every attempt consults the shared back-off through the cache). A third
// of the way, Redis is flushed; two thirds, killed (SIGKILL), and the rest
// is started while it is gone: both workers must fail open to local
// caching (Status().Mode local_only) and keep going. Then Redis comes
// back on the same port: both must return to distributed_atomic (the
// recovery time is that), and every workflow completes, each step once.
func redisLoss(ctx context.Context, tg opener, quick bool) (Row, error) {
	srv, err := startRedisServer(ctx)
	if err != nil {
		return Row{}, err
	}
	defer srv.close()
	s, err := tg.open(ctx)
	if err != nil {
		return Row{}, err
	}
	defer s.Close()
	n := 600
	if quick {
		n = 60
	}
	l := NewLedger()
	var ran atomic.Int64
	flushAt, killAt := make(chan struct{}), make(chan struct{})
	var engines []*engine.Engine
	for _, w := range []string{"a", "b"} {
		cfg := config(s, "redis-"+w)
		cfg.Cache = cachex.Config{Distributed: srv.url(), Fallback: cachex.FallbackConfig{RetryInterval: 50 * time.Millisecond}}
		e, err := engine.New(cfg)
		if err != nil {
			return Row{}, err
		}
		if err := e.HandleFunc("pay", func(sc *engine.StepContext) (any, error) {
			l.Add(sc.IdempotencyKey)
			switch ran.Add(1) {
			case int64(n / 3): // of 2n steps
				close(flushAt)
			case int64(2 * n / 3):
				close(killAt)
			}
			return sc.Step, nil
		}); err != nil {
			return Row{}, err
		}
		if err := e.Register(&engine.Template{Namespace: "chaos", Name: "pay", Steps: []engine.StepTemplate{
			{Name: "charge", Handler: "pay", DependentSystem: "payments", RetryLimit: 10},
			{Name: "capture", Handler: "pay", DependentSystem: "payments", DependsOn: []string{"charge"}, RetryLimit: 10}}}); err != nil {
			return Row{}, err
		}
		engines = append(engines, e)
	}
	var ids []int64
	startSome := func(k int) error {
		for range k {
			h, err := engines[len(ids)%2].Start(ctx, "chaos/pay", map[string]int{"n": len(ids)})
			if err != nil {
				return err
			}
			ids = append(ids, h.TaskID)
		}
		return nil
	}
	if err := startSome(n / 2); err != nil {
		return Row{}, err
	}
	for _, e := range engines {
		stop, err := run(ctx, e)
		if err != nil {
			return Row{}, err
		}
		defer stop()
	}
	r := Row{Workflows: n}
	// modes waits until every engine reports mode (Redis noticed gone, or
	// back).
	modes := func(mode string) error {
		deadline := time.Now().Add(30 * time.Second)
		for {
			all := true
			for _, e := range engines {
				all = all && e.Status().Mode == mode
			}
			if all {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the workers did not all report %s within 30 s (%s, %s)", mode, engines[0].Status().Mode, engines[1].Status().Mode)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	if err := modes("distributed_atomic"); err != nil {
		return r, err
	}
	for _, step := range []struct {
		at <-chan struct{}
		do func() error
	}{
		{flushAt, func() error { return srv.flush(ctx) }},
		{killAt, func() error { srv.kill(); return startSome(n - n/2) }},
	} {
		select {
		case <-step.at:
		case <-time.After(2 * time.Minute):
			return r, fmt.Errorf("%d of %d steps ran in 2 minutes", ran.Load(), 2*n)
		}
		if err := step.do(); err != nil {
			return r, err
		}
	}
	// Steps run while Redis is gone, and the workers say so.
	if err := modes("local_only"); err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	back := time.Now() // the recovery counts from the restart
	if err := srv.start(ctx); err != nil {
		return r, err
	}
	if err := modes("distributed_atomic"); err != nil {
		r.Problems = append(r.Problems, "after Redis returned: "+err.Error())
	}
	r.Recovery = time.Since(back)
	if err := waitAll(ctx, engines[0], ids); err != nil {
		return r, err
	}
	f, err := Check(ctx, s, l, ids)
	r.Lost, r.DoubleCompletions, r.Problems = f.Lost, f.DoubleCompletions, append(r.Problems, f.Problems...)
	return r, err
}
