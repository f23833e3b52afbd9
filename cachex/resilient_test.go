package cachex_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/cachex/cachextest"
)

// Redis is killed mid-run: operations keep working locally and are counted,
// and once Redis is back coordination is distributed again. The test runs a
// redis-server of its own; the shared instance is never touched.
func TestResilientSurvivesRedisShutdown(t *testing.T) {
	t.Parallel()
	srv := startPrivateRedis(t)
	core, logs := observer.New(zap.InfoLevel)
	c, err := cachex.New(cachex.Config{
		Distributed: srv.url(),
		Redis:       cachex.RedisConfig{DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond},
		Fallback:    cachex.FallbackConfig{RetryInterval: 20 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond, LogInterval: time.Hour},
	}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.(*cachex.Resilient)
	ctx := context.Background()

	// 1. Healthy: distributed, nothing counted.
	if mode := detect(t, ctx, c, cachex.Config{}).Mode; mode != cachex.ModeDistributedAtomic {
		t.Fatalf("mode with Redis up = %v; want distributed_atomic", mode)
	}
	held, err := c.Lock(ctx, "job", "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetString(ctx, "k", "remote", time.Minute); err != nil {
		t.Fatal(err)
	}
	if r.Fallbacks() != 0 {
		t.Fatalf("Fallbacks with Redis up = %d", r.Fallbacks())
	}

	// 2. Redis goes away mid-run.
	srv.shutdown()
	if _, ok, err := c.GetString(ctx, "k"); err != nil || ok {
		t.Fatalf("GetString during the outage = ok %v, err %v; want a local miss", ok, err)
	}
	if err := c.SetString(ctx, "k", "local", time.Minute); err != nil {
		t.Fatalf("SetString during the outage: %v", err)
	}
	if v, ok, err := c.GetString(ctx, "k"); err != nil || !ok || v != "local" {
		t.Fatalf("GetString during the outage = %q, %v, %v; want local", v, ok, err)
	}
	if n, err := c.Incr(ctx, "n", 2, time.Minute); err != nil || n != 2 {
		t.Fatalf("Incr during the outage = %d, %v", n, err)
	}
	v, err := c.Fetch(ctx, "f", time.Minute, func(context.Context) ([]byte, error) { return []byte("loaded"), nil })
	if err != nil || string(v) != "loaded" {
		t.Fatalf("Fetch during the outage = %q, %v", v, err)
	}
	local, err := c.Lock(ctx, "job", "b", time.Minute)
	if err != nil {
		t.Fatalf("Lock during the outage: %v", err)
	}
	if local.Fence() <= held.Fence() {
		t.Fatalf("fence went %d -> %d across the switch to local", held.Fence(), local.Fence())
	}
	if err := held.Release(ctx); err != nil {
		t.Fatalf("releasing a Redis lock during the outage = %v; want nil (it expires in Redis)", err)
	}
	if err := local.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Healthy() || r.Fallbacks() < 6 {
		t.Fatalf("Healthy %v, Fallbacks %d; want failing open with every operation counted", r.Healthy(), r.Fallbacks())
	}
	if c.Capabilities().Distributed {
		t.Fatal("Capabilities claim Distributed while failing open")
	}
	if mode := detect(t, ctx, c, cachex.Config{}).Mode; mode != cachex.ModeLocalOnly {
		t.Fatalf("mode with Redis down = %v; want local_only", mode)
	}
	if n := logs.FilterMessageSnippet("failing open").Len(); n != 1 {
		t.Fatalf("%d 'failing open' log lines; want exactly 1 per LogInterval", n)
	}

	// 3. Redis comes back (empty: no persistence): coordination resumes.
	srv.start()
	cachextest.Eventually(t, "resilient cache switches back to Redis", r.Healthy)
	if mode := detect(t, ctx, c, cachex.Config{}).Mode; mode != cachex.ModeDistributedAtomic {
		t.Fatalf("mode after recovery = %v; want distributed_atomic", mode)
	}
	before := r.Fallbacks()
	if err := c.SetString(ctx, "k", "remote-again", time.Minute); err != nil {
		t.Fatal(err)
	}
	other := newRedis(t, srv.url(), "")
	if v, ok, err := other.GetString(ctx, "k"); err != nil || !ok || v != "remote-again" {
		t.Fatalf("another instance reads %q, %v, %v; want the write to have reached Redis", v, ok, err)
	}
	again, err := c.Lock(ctx, "job", "c", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fence() <= local.Fence() {
		t.Fatalf("fence went %d -> %d across the switch back", local.Fence(), again.Fence())
	}
	if _, err := other.Lock(ctx, "job", "d", time.Minute); !errors.Is(err, cachex.ErrLockHeld) {
		t.Fatalf("another instance locks = %v; want ErrLockHeld (the lock is in Redis)", err)
	}
	if r.Fallbacks() != before {
		t.Fatalf("Fallbacks rose from %d to %d after recovery", before, r.Fallbacks())
	}
	if logs.FilterMessageSnippet("answers again").Len() != 1 {
		t.Fatalf("no recovery log line: %v", logs.All())
	}
}

// The fallback store's hits and misses count from its creation, as
// Stats says: each outage after the first emptied the store and, with it,
// ristretto's metrics, so LocalStats told only the latest outage's reads.
func TestResilientLocalStatsSurviveAnotherOutage(t *testing.T) {
	t.Parallel()
	srv := startPrivateRedis(t)
	c, err := cachex.New(cachex.Config{
		Distributed: srv.url(),
		Redis:       cachex.RedisConfig{DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond},
		Fallback:    cachex.FallbackConfig{RetryInterval: 20 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.(*cachex.Resilient)
	ctx := context.Background()
	outage := func() {
		t.Helper()
		srv.shutdown()
		if err := c.SetString(ctx, "k", "v", time.Minute); err != nil || r.Healthy() {
			t.Fatalf("SetString with Redis down = %v, healthy %v; want failing open", err, r.Healthy())
		}
	}
	outage()
	_, _, _ = c.GetString(ctx, "k")       // a hit
	_, _, _ = c.GetString(ctx, "missing") // a miss
	if s := r.LocalStats(); s.Hits != 1 || s.Misses != 1 {
		t.Fatalf("LocalStats in the first outage = %+v; want 1 hit, 1 miss", s)
	}
	srv.start()
	cachextest.Eventually(t, "resilient cache switches back to Redis", r.Healthy)
	outage()
	if s := r.LocalStats(); s.Hits != 1 || s.Misses != 1 {
		t.Fatalf("LocalStats after the second outage began = %+v; want the first one's 1 hit, 1 miss kept", s)
	}
	_, _, _ = c.GetString(ctx, "k")
	if s := r.LocalStats(); s.Hits != 2 || s.Misses != 1 {
		t.Fatalf("LocalStats in the second outage = %+v; want 2 hits, 1 miss", s)
	}
}

func TestResilientStartsFailingOpenWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	srv := startPrivateRedis(t)
	url := srv.url()
	srv.shutdown()
	c, err := cachex.New(cachex.Config{Distributed: url,
		Fallback: cachex.FallbackConfig{RetryInterval: time.Hour}}, nil)
	if err != nil {
		t.Fatalf("New with Redis down: %v (must fail open, not fail)", err)
	}
	defer c.Close()
	r := c.(*cachex.Resilient)
	if r.Healthy() {
		t.Fatal("Healthy with Redis down")
	}
	ctx := context.Background()
	if n, err := c.Incr(ctx, "n", 1, 0); err != nil || n != 1 {
		t.Fatalf("Incr = %d, %v", n, err)
	}
	if r.Fallbacks() != 1 {
		t.Fatalf("Fallbacks = %d; want 1", r.Fallbacks())
	}
}

func TestResilientDoesNotFailOpenOnCallerCancel(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	c, err := cachex.New(cachex.Config{Distributed: url,
		Redis: cachex.RedisConfig{Namespace: namespace(t, url)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.GetString(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetString with a cancelled ctx = %v; want context.Canceled", err)
	}
	if r := c.(*cachex.Resilient); !r.Healthy() || r.Fallbacks() != 0 {
		t.Fatalf("a cancelled caller made the cache fail open (healthy %v, fallbacks %d)", r.Healthy(), r.Fallbacks())
	}
}

// A cancelled caller is refused with its context's error whether Redis is
// up or the cache fails open. Before, the local store ignored the context:
// with Redis down, Set, Incr and Lock went through where with Redis up
// they were refused, and each was counted as a fallback.
func TestResilientFailingOpenRefusesACancelledContext(t *testing.T) {
	t.Parallel()
	srv := startPrivateRedis(t)
	url := srv.url()
	srv.shutdown()
	c, err := cachex.New(cachex.Config{Distributed: url,
		Fallback: cachex.FallbackConfig{RetryInterval: time.Hour}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.(*cachex.Resilient)
	if r.Healthy() {
		t.Fatal("Healthy with Redis down")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.SetString(ctx, "k", "v", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("SetString = %v; want context.Canceled", err)
	}
	if _, err := c.Incr(ctx, "n", 1, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Incr = %v; want context.Canceled", err)
	}
	if _, err := c.Lock(ctx, "l", "o", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock = %v; want context.Canceled", err)
	}
	if _, ok, err := c.GetString(context.Background(), "k"); err != nil || ok {
		t.Errorf("GetString after the refused Set = ok %v, err %v; want a miss", ok, err)
	}
	if n := r.Fallbacks(); n != 1 {
		t.Errorf("Fallbacks = %d; want 1 (the GetString): a refused call is not served locally", n)
	}
}

// A probe that gives up before a dial the cache allows never finds a
// Redis that slow to reach: with DialTimeout 2s and the default
// ProbeTimeout 500ms, the cache failed open at New and for good, though
// every operation would have been served. ProbeTimeout now defaults to
// the dial timeout when that is longer, and a shorter one is refused.
func TestProbeTimeoutShorterThanTheDialTimeoutIsRefused(t *testing.T) {
	t.Parallel()
	const url = "redis://127.0.0.1:6379/0"
	want := "fallback: probe_timeout 1s is shorter than redis dial_timeout 2s: a probe would give up before a dial the cache allows, and a Redis that slow to reach would never be used again: set probe_timeout to at least 2s"
	if err := (cachex.Config{Distributed: url, Redis: cachex.RedisConfig{DialTimeout: 2 * time.Second},
		Fallback: cachex.FallbackConfig{ProbeTimeout: time.Second}}).Validate(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate = %v; want %q", err, want)
	}
	remote := newRedis(t, url, "")
	if _, err := cachex.NewResilient(remote, newLocal(t, cachex.LocalConfig{}), cachex.FallbackConfig{ProbeTimeout: 100 * time.Millisecond}, nil); err == nil ||
		!strings.Contains(err.Error(), "probe_timeout 100ms is shorter than redis dial_timeout 500ms") {
		t.Errorf("NewResilient with a probe shorter than the dial = %v; want it refused", err)
	}
	for _, cfg := range []cachex.Config{
		{Distributed: url, Redis: cachex.RedisConfig{DialTimeout: 2 * time.Second}},
		{Distributed: url, Redis: cachex.RedisConfig{DialTimeout: 2 * time.Second}, Fallback: cachex.FallbackConfig{ProbeTimeout: 2 * time.Second}},
		{Distributed: url, Fallback: cachex.FallbackConfig{ProbeTimeout: 500 * time.Millisecond}},
	} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

// NewResilient refuses a store it cannot use, naming it: a nil one
// ("remote and local stores are required" named neither), and a closed
// one, which it took: a closed Redis failed every probe (the cache failed
// open for good, logging an outage), a closed local store every
// operation served while failing open.
func TestNewResilientRefusesANilOrClosedStore(t *testing.T) {
	t.Parallel()
	const url = "redis://127.0.0.1:6379/0"
	closedRemote := newRedis(t, url, "")
	_ = closedRemote.Close()
	closedLocal := newLocal(t, cachex.LocalConfig{})
	_ = closedLocal.Close()
	for _, c := range []struct {
		name   string
		remote *cachex.Redis
		local  *cachex.Local
		want   string
	}{
		{"nil remote", nil, newLocal(t, cachex.LocalConfig{}), "resilient cache: the remote store is nil"},
		{"nil local", newRedis(t, url, ""), nil, "resilient cache: the local store is nil"},
		{"closed remote", closedRemote, newLocal(t, cachex.LocalConfig{}), "resilient cache: the remote store is closed"},
		{"closed local", newRedis(t, url, ""), closedLocal, "resilient cache: the local store is closed"},
	} {
		r, err := cachex.NewResilient(c.remote, c.local, cachex.FallbackConfig{RetryInterval: time.Hour}, nil)
		if r != nil {
			_ = r.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: NewResilient = %v; want %q", c.name, err, c.want)
		}
	}
}

// probeCalls is how many PING and DEL commands a Redis server has had,
// refused ones included: the probes a Resilient sends it while failing
// open.
func probeCalls(t *testing.T, srv *privateRedis) int {
	t.Helper()
	out, err := srv.cli("info", "commandstats").Output()
	if err != nil {
		t.Fatalf("info commandstats: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "cmdstat_ping" && name != "cmdstat_del") {
			continue
		}
		for _, kv := range strings.Split(stats, ",") {
			k, v, _ := strings.Cut(kv, "=")
			if k == "calls" || k == "rejected_calls" {
				var c int
				_, _ = fmt.Sscan(v, &c)
				n += c
			}
		}
	}
	return n
}

// A read-only replica (the old primary after a failover) answers PING but
// refuses every write: the probe switched back at once, the next write
// failed open again, and each switch emptied the local store, locks held
// there included, so a lock this process held was taken by another of its
// callers. The probe now asks for a write, and switches back only once
// Redis takes writes again.
func TestResilientStaysOpenOnAReadOnlyReplica(t *testing.T) {
	t.Parallel()
	primary := startPrivateRedis(t)
	replica := startPrivateRedis(t)
	if out, err := replica.cli("replicaof", "127.0.0.1", strconv.Itoa(primary.port)).CombinedOutput(); err != nil {
		t.Fatalf("replicaof: %v: %s", err, out)
	}
	c, err := cachex.New(cachex.Config{Distributed: replica.url(),
		Fallback: cachex.FallbackConfig{RetryInterval: 10 * time.Millisecond}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.(*cachex.Resilient)
	ctx := context.Background()
	if err := c.SetString(ctx, "k", "v", time.Minute); err != nil {
		t.Fatalf("SetString on a read-only replica = %v; want it served locally", err)
	}
	if r.Healthy() {
		t.Fatal("Healthy on a read-only replica")
	}
	held, err := c.Lock(ctx, "job", "a", time.Minute)
	if err != nil {
		t.Fatalf("Lock failing open: %v", err)
	}
	before := probeCalls(t, replica)
	cachextest.Eventually(t, "the replica is probed three times (or the cache switches back)", func() bool {
		return r.Healthy() || probeCalls(t, replica) >= before+3
	})
	if r.Healthy() {
		t.Fatal("a probe switched back to a replica that refuses writes")
	}
	if _, err := c.Lock(ctx, "job", "b", time.Minute); !errors.Is(err, cachex.ErrLockHeld) {
		t.Fatalf("Lock(job) by another owner while a holds it = %v; want ErrLockHeld", err)
	}
	// Promoted, it takes writes: the probe switches back.
	if out, err := replica.cli("replicaof", "no", "one").CombinedOutput(); err != nil {
		t.Fatalf("replicaof no one: %v: %s", err, out)
	}
	cachextest.Eventually(t, "the cache switches back to the promoted replica", r.Healthy)
	if err := c.SetString(ctx, "k", "remote", time.Minute); err != nil || !r.Healthy() {
		t.Fatalf("SetString on the promoted replica = %v, healthy %v", err, r.Healthy())
	}
	_ = held.Release(ctx)
}

// A Redis that starts refusing the cache mid-run (its password changed,
// and the connections it dropped dial again without it) fails the cache
// open, as one that refuses at New does, and says so in an error line.
// Before, the cache stayed "healthy" and every call failed with NOAUTH,
// logging nothing.
func TestResilientFailsOpenWhenRedisStartsRefusingTheCache(t *testing.T) {
	t.Parallel()
	srv := startPrivateRedis(t)
	core, logs := observer.New(zap.InfoLevel)
	c, err := cachex.New(cachex.Config{Distributed: srv.url(),
		Fallback: cachex.FallbackConfig{RetryInterval: time.Hour}}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.(*cachex.Resilient)
	ctx := context.Background()
	if err := c.SetString(ctx, "k", "v", time.Minute); err != nil || !r.Healthy() {
		t.Fatalf("SetString with Redis up = %v, healthy %v", err, r.Healthy())
	}
	if out, err := srv.cli("config", "set", "requirepass", "rotated").CombinedOutput(); err != nil {
		t.Fatalf("config set requirepass: %v: %s", err, out)
	}
	srv.password = "rotated"
	if out, err := srv.cli("client", "kill", "type", "normal", "skipme", "yes").CombinedOutput(); err != nil {
		t.Fatalf("client kill: %v: %s", err, out)
	}
	if _, ok, err := c.GetString(ctx, "k"); err != nil || ok {
		t.Fatalf("GetString once Redis refuses = ok %v, err %v; want a local miss (failing open)", ok, err)
	}
	if r.Healthy() {
		t.Fatal("Healthy while Redis refuses the cache")
	}
	if err := c.SetString(ctx, "k", "local", time.Minute); err != nil {
		t.Fatalf("SetString failing open: %v", err)
	}
	if _, err := c.Incr(ctx, "n", 1, time.Minute); err != nil {
		t.Fatalf("Incr failing open: %v", err)
	}
	if _, err := c.Lock(ctx, "l", "", time.Minute); err != nil {
		t.Fatalf("Lock failing open: %v", err)
	}
	refused := logs.FilterMessageSnippet("refuses").All()
	if len(refused) != 1 || refused[0].Level != zap.ErrorLevel || !strings.Contains(fmt.Sprint(refused[0].ContextMap()["error"]), "NOAUTH") {
		t.Fatalf("log lines %v; want one error line saying Redis refuses the cache, with its NOAUTH", logs.All())
	}
	if n := logs.FilterMessageSnippet("unavailable").Len(); n != 0 {
		t.Errorf("%d 'redis unavailable' lines for a refusal: %v", n, logs.All())
	}
}

// A Redis that answers and refuses the cache (a wrong password, a database
// it does not have) is a misconfiguration, not an outage: the cache fails
// open all the same, and logs an error naming the URL without its password
// and Redis's answer. Before, it logged "redis unavailable", as for an
// outage, at the start and at the first operation served locally.
func TestResilientLogsARedisThatRefusesTheCache(t *testing.T) {
	t.Parallel()
	srv := startPrivateRedisWithPassword(t, "s3cret")
	host := fmt.Sprintf("127.0.0.1:%d", srv.port)
	for _, tc := range []struct{ name, url, want string }{
		{"wrong password", "redis://:wrong@" + host + "/0", "WRONGPASS"},
		{"unknown user", "redis://nobody:s3cret@" + host + "/0", "WRONGPASS"},
		{"no password", srv.url(), "NOAUTH"},
		{"database out of range", "redis://:s3cret@" + host + "/99", "DB index is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			c, err := cachex.New(cachex.Config{Distributed: tc.url,
				Fallback: cachex.FallbackConfig{RetryInterval: time.Hour}}, zap.New(core))
			if err != nil {
				t.Fatalf("New: %v (a refusing Redis fails open, as an absent one does)", err)
			}
			defer c.Close()
			if c.(*cachex.Resilient).Healthy() {
				t.Fatal("Healthy while Redis refuses the cache")
			}
			if err := c.SetString(context.Background(), "k", "v", time.Minute); err != nil {
				t.Fatalf("SetString failing open: %v", err)
			}
			if n := logs.FilterMessageSnippet("unavailable").Len(); n != 0 {
				t.Errorf("%d 'redis unavailable' log lines for a refusal: %v", n, logs.All())
			}
			refused := logs.FilterMessageSnippet("refuses").All()
			if len(refused) != 1 {
				t.Fatalf("%d 'refuses' log lines; want 1 per LogInterval: %v", len(refused), logs.All())
			}
			line := refused[0]
			fields := line.ContextMap()
			if line.Level != zap.ErrorLevel || !strings.Contains(fmt.Sprint(fields["error"]), tc.want) ||
				!strings.Contains(fmt.Sprint(fields["url"]), host) {
				t.Errorf("refusal logged as %v %q %v; want an error line with %q and the server %s", line.Level, line.Message, fields, tc.want, host)
			}
			if all := fmt.Sprint(fields); strings.Contains(all, "s3cret") || strings.Contains(all, "wrong") {
				t.Errorf("the log line shows the password: %v", fields)
			}
		})
	}
}

// A Redis down when the cache starts that comes back refusing it (here with
// a password the URL lacks) keeps the cache failing open, and the probe logs
// the refusal, though the outage was logged within LogInterval, instead of
// saying nothing.
func TestResilientProbeLogsARedisThatRefusesTheCache(t *testing.T) {
	t.Parallel()
	srv := startPrivateRedis(t)
	url := srv.url()
	srv.shutdown()
	core, logs := observer.New(zap.InfoLevel)
	c, err := cachex.New(cachex.Config{Distributed: url,
		Fallback: cachex.FallbackConfig{RetryInterval: 10 * time.Millisecond, LogInterval: time.Hour}}, zap.New(core))
	if err != nil {
		t.Fatalf("New with Redis down: %v", err)
	}
	defer c.Close()
	if n := logs.FilterMessageSnippet("unavailable").Len(); n != 1 {
		t.Fatalf("%d 'redis unavailable' lines at the start with Redis down; want 1", n)
	}
	srv.password = "s3cret"
	srv.start()
	cachextest.Eventually(t, "the probe logs the refusal", func() bool {
		return logs.FilterMessageSnippet("refuses").Len() > 0
	})
	line := logs.FilterMessageSnippet("refuses").All()[0]
	if line.Level != zap.ErrorLevel || !strings.Contains(fmt.Sprint(line.ContextMap()["error"]), "NOAUTH") {
		t.Errorf("refusal logged as %v %q %v; want an error line carrying NOAUTH", line.Level, line.Message, line.ContextMap())
	}
	if c.(*cachex.Resilient).Healthy() {
		t.Error("Healthy while Redis refuses the cache")
	}
}
