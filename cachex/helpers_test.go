package cachex_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/cachex/cachextest"
)

// redisURL returns the shared test Redis, or skips (fails under CI) when
// none is configured.
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TASKER_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TASKER_TEST_REDIS_URL is not set under CI: the test script must `source scripts/redis.sh`")
		}
		t.Skip("set TASKER_TEST_REDIS_URL (source scripts/redis.sh) to run Redis tests")
	}
	return u
}

// namespace returns a key namespace unique to this test, and removes its
// keys when the test ends.
func namespace(t testing.TB, url string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	ns := "test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() { dropNamespace(t, url, ns) })
	return ns
}

func dropNamespace(t testing.TB, url, ns string) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Errorf("parse %s: %v", url, err)
		return
	}
	opt.DisableIdentity = true
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, ns+"*", 500).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}

// detect is DetectMode, failing the test on an error.
func detect(t testing.TB, ctx context.Context, c cachex.Cache, cfg cachex.Config) cachex.Detection {
	t.Helper()
	d, err := cachex.DetectMode(ctx, c, cfg)
	if err != nil {
		t.Fatalf("DetectMode: %v", err)
	}
	return d
}

func newLocal(t testing.TB, cfg cachex.LocalConfig) *cachex.Local {
	t.Helper()
	l, err := cachex.NewLocal(cfg)
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newRedis(t testing.TB, url, ns string) *cachex.Redis {
	t.Helper()
	r, err := cachex.NewRedis(cachex.RedisConfig{URL: url, Namespace: ns})
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// privateRedis is a redis-server of the test's own, on a free loopback
// port, that the test may stop and start again. The shared instance on
// 63790 is never touched. A password, when given, is its requirepass.
type privateRedis struct {
	t        *testing.T
	port     int
	dir      string
	password string
	cmd      *exec.Cmd
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	return startPrivateRedisWithPassword(t, "")
}

func startPrivateRedisWithPassword(t *testing.T, password string) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found under CI: source scripts/redis.sh first")
		}
		t.Skip("redis-server not installed (source scripts/redis.sh installs it)")
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &privateRedis{t: t, port: port, dir: t.TempDir(), password: password}
	p.start()
	t.Cleanup(func() {
		if p.cmd != nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

func (p *privateRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", p.port) }

func (p *privateRedis) start() {
	p.t.Helper()
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(p.port),
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", p.dir, "--logfile", filepath.Join(p.dir, "redis.log")}
	if p.password != "" {
		args = append(args, "--requirepass", p.password)
	}
	p.cmd = exec.Command("redis-server", args...)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start redis-server: %v", err)
	}
	cachextest.Eventually(p.t, "private redis answers PING", func() bool {
		out, _ := p.cli("ping").Output()
		return string(out) == "PONG\n"
	})
}

// shutdown stops the server the way an operator would.
func (p *privateRedis) shutdown() {
	p.t.Helper()
	// SHUTDOWN closes the connection without a reply; redis-cli may report
	// that, so only the process exit is checked.
	_ = p.cli("shutdown", "nosave").Run()
	if err := p.cmd.Wait(); err != nil {
		p.t.Logf("redis-server exited: %v", err)
	}
	p.cmd = nil
}

// cli is a redis-cli command against the server, authenticated when it
// has a password.
func (p *privateRedis) cli(args ...string) *exec.Cmd {
	base := []string{"-p", strconv.Itoa(p.port)}
	if p.password != "" {
		base = append(base, "-a", p.password, "--no-auth-warning")
	}
	return exec.Command("redis-cli", append(base, args...)...)
}

// rawClient is a plain go-redis client for looking at keys directly.
func rawClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableIdentity = true
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}
