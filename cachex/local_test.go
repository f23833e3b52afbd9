package cachex_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/cachex/cachextest"
)

func TestLocalConformance(t *testing.T) {
	t.Parallel()
	cachextest.Exercise(t, func(t *testing.T) cachex.Cache {
		return newLocal(t, cachex.LocalConfig{MaxBytes: 1 << 20})
	})
}

func TestLocalCapabilitiesAreHonest(t *testing.T) {
	t.Parallel()
	got := newLocal(t, cachex.LocalConfig{}).Capabilities()
	want := cachex.Capabilities{Distributed: false, AtomicIncrement: true, Locking: true}
	if got != want {
		t.Fatalf("Capabilities = %+v; want %+v", got, want)
	}
}

func TestLocalStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLocal(t, cachex.LocalConfig{MaxBytes: 16 << 10, Instance: "node-1"})
	if err := l.SetString(ctx, "a", "1", 0); err != nil {
		t.Fatal(err)
	}
	_, _, _ = l.GetString(ctx, "a")
	_, _, _ = l.GetString(ctx, "a")
	_, _, _ = l.GetString(ctx, "missing")
	s := l.Stats()
	if s.Hits != 2 || s.Misses != 1 || s.Instance != "node-1" || s.MaxBytes != 16<<10 {
		t.Fatalf("Stats = %+v; want 2 hits, 1 miss, instance node-1", s)
	}
	// 64 KiB of values through a 16 KiB store: the cost bound evicts.
	value := strings.Repeat("x", 1000)
	for i := range 64 {
		if err := l.SetString(ctx, fmt.Sprintf("k%d", i), value, 0); err != nil {
			t.Fatal(err)
		}
	}
	if s := l.Stats(); s.Evictions == 0 {
		t.Fatalf("Stats after overfilling = %+v; want evictions", s)
	}
	// Counters since the store was created: Close keeps them (Hits and
	// Misses read 0 after it, Evictions not).
	before := l.Stats()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s != before {
		t.Fatalf("Stats after Close = %+v; want %+v", s, before)
	}
}

func TestLocalConfigValidate(t *testing.T) {
	t.Parallel()
	err := cachex.LocalConfig{MaxBytes: -1, NumCounters: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "max_bytes") || !strings.Contains(err.Error(), "num_counters") {
		t.Fatalf("Validate = %v; want both problems", err)
	}
	if _, err := cachex.NewLocal(cachex.LocalConfig{MaxBytes: -1}); err == nil {
		t.Fatal("NewLocal accepted a negative MaxBytes")
	}
}

// TestLocalConfigRefusesMaxBytesUnderAKiB: max_bytes counts bytes, so 64
// (64 MiB meant, DefaultMaxBytes) was taken as 64 bytes: a store that
// kept next to nothing, every Set answering nil, a toggle Set on reading
// off again.
func TestLocalConfigRefusesMaxBytesUnderAKiB(t *testing.T) {
	t.Parallel()
	for _, n := range []int64{1, 64, 1023} {
		err := cachex.LocalConfig{MaxBytes: n}.Validate()
		if want := fmt.Sprintf("max_bytes %d is under a KiB: it counts bytes (write 64 << 20 for 64 MiB)", n); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate with max_bytes %d: %v; want an error saying %s", n, err, want)
		}
	}
	if err := (cachex.LocalConfig{MaxBytes: 1 << 10}).Validate(); err != nil {
		t.Errorf("Validate with max_bytes 1 KiB: %v", err)
	}
}

func TestLocalLockDefaultsOwnerToInstance(t *testing.T) {
	t.Parallel()
	l := newLocal(t, cachex.LocalConfig{Instance: "node-7"})
	lk, err := l.Lock(context.Background(), "k", "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if lk.Owner() != "node-7" {
		t.Fatalf("Owner = %q; want the instance id", lk.Owner())
	}
}

func TestFetchLoadPanicDoesNotWedgeKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLocal(t, cachex.LocalConfig{})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic in load was swallowed")
			}
		}()
		_, _ = l.Fetch(ctx, "p", time.Minute, func(context.Context) ([]byte, error) { panic("load") })
	}()
	v, err := l.Fetch(ctx, "p", time.Minute, func(context.Context) ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(v) != "ok" {
		t.Fatalf("Fetch after a panicking load = %q, %v", v, err)
	}
}

// waitingCtx signals, the first time Done is asked for, that a Fetch is
// about to wait for another caller's load (the local store asks for Done
// there only).
type waitingCtx struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func (c *waitingCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}

// A caller waiting for another's load is not handed that caller's giving
// up: the load ran with the leader's context, and when the leader's
// context ended the load failed with context.Canceled, which every caller
// waiting for it got, their own contexts live. It loads afresh instead.
func TestFetchWaiterGetsItsOwnLoadWhenTheLeaderGivesUp(t *testing.T) {
	t.Parallel()
	l := newLocal(t, cachex.LocalConfig{})
	leaderCtx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	leaderErr := make(chan error, 1)
	go func() {
		_, err := l.Fetch(leaderCtx, "k", time.Minute, func(ctx context.Context) ([]byte, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})
		leaderErr <- err
	}()
	<-started
	waiter := &waitingCtx{Context: context.Background(), waiting: make(chan struct{})}
	type result struct {
		v   []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		v, err := l.Fetch(waiter, "k", time.Minute, func(context.Context) ([]byte, error) { return []byte("mine"), nil })
		got <- result{v, err}
	}()
	<-waiter.waiting
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader's Fetch = %v; want context.Canceled (its own)", err)
	}
	if r := <-got; r.err != nil || string(r.v) != "mine" {
		t.Fatalf("waiter's Fetch = %q, %v; want its own load's \"mine\"", r.v, r.err)
	}
}

func TestInstanceID(t *testing.T) {
	t.Parallel()
	id := cachex.InstanceID()
	if id == "" || !strings.Contains(id, "-") || id != cachex.InstanceID() {
		t.Fatalf("InstanceID = %q; want stable hostname-pid", id)
	}
}

func TestNewWithoutDistributedIsLocal(t *testing.T) {
	t.Parallel()
	c, err := cachex.New(cachex.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*cachex.Local); !ok {
		t.Fatalf("New(Config{}) = %T; want *cachex.Local", c)
	}
}

func TestConfigValidateReportsAll(t *testing.T) {
	t.Parallel()
	err := cachex.Config{
		Distributed: "http://x",
		Local:       cachex.LocalConfig{MaxBytes: -1},
		Redis:       cachex.RedisConfig{DialTimeout: -1},
		Fallback:    cachex.FallbackConfig{RetryInterval: -1},
	}.Validate()
	for _, want := range []string{"scheme", "max_bytes", "dial_timeout", "retry_interval"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want it to mention %s", err, want)
		}
	}
	if _, err := cachex.New(cachex.Config{Distributed: "http://x"}, nil); err == nil {
		t.Error("New accepted an invalid config")
	}
	if err := (cachex.RedisConfig{}).Validate(); err == nil || !strings.Contains(err.Error(), "url") {
		t.Errorf("RedisConfig{}.Validate = %v; want url required", err)
	}
}

// A duration under a millisecond was accepted (OpenFor: 30 opened the
// breaker for 30 ns): a bare number is nanoseconds, so each is refused now,
// naming the field; zero still means the default.
func TestDurationsUnderAMillisecondAreRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want []string
	}{
		{"breaker", cachex.BreakerConfig{ErrorRate: 0.5, Window: 5, OpenFor: 30}.Validate(),
			[]string{"window 5ns is under a millisecond", "open_for 30ns is under a millisecond"}},
		{"fallback", cachex.FallbackConfig{RetryInterval: 1, ProbeTimeout: 500, LogInterval: 30}.Validate(),
			[]string{"retry_interval 1ns is under a millisecond", "probe_timeout 500ns is under a millisecond", "log_interval 30ns is under a millisecond"}},
		{"redis", cachex.RedisConfig{URL: "redis://127.0.0.1:6379/0", DialTimeout: 500, ReadTimeout: 1, WriteTimeout: time.Millisecond - 1}.Validate(),
			[]string{"dial_timeout 500ns is under a millisecond", "read_timeout 1ns is under a millisecond", "write_timeout 999.999µs is under a millisecond"}},
		{"adaptive TTL", cachex.AdaptiveTTLConfig{Min: 1, Max: 600, DecayInterval: 1}.Validate(),
			[]string{"min 1ns is under a millisecond", "max 600ns is under a millisecond", "decay_interval 1ns is under a millisecond"}},
		{"config", cachex.Config{Distributed: "redis://127.0.0.1:6379/0", Redis: cachex.RedisConfig{DialTimeout: 500}, Fallback: cachex.FallbackConfig{RetryInterval: 1}}.Validate(),
			[]string{"redis: dial_timeout 500ns is under a millisecond: a bare number is nanoseconds (write 30 * time.Second, not 30)", "fallback: retry_interval 1ns is under a millisecond"}},
	} {
		for _, want := range c.want {
			if c.err == nil || !strings.Contains(c.err.Error(), want) {
				t.Errorf("%s: Validate = %v; want it to say %q", c.name, c.err, want)
			}
		}
	}
	// Zero (the default) and a millisecond stay valid.
	for _, err := range []error{
		cachex.BreakerConfig{}.Validate(),
		cachex.BreakerConfig{ErrorRate: 0.5, Window: time.Millisecond, OpenFor: time.Millisecond}.Validate(),
		cachex.FallbackConfig{RetryInterval: time.Millisecond, ProbeTimeout: time.Millisecond, LogInterval: time.Millisecond}.Validate(),
		cachex.RedisConfig{URL: "redis://127.0.0.1:6379/0", DialTimeout: time.Millisecond, ReadTimeout: time.Millisecond, WriteTimeout: time.Millisecond}.Validate(),
		cachex.AdaptiveTTLConfig{Min: time.Millisecond, Max: time.Millisecond, DecayInterval: time.Millisecond}.Validate(),
	} {
		if err != nil {
			t.Error(err)
		}
	}
	if _, err := cachex.NewSystemGate(newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{OpenFor: 30}, nil); err == nil || !strings.Contains(err.Error(), "open_for 30ns") {
		t.Errorf("NewSystemGate(OpenFor: 30) = %v; want it refused", err)
	}
}

// A Redis URL given as Redis.URL, or Redis and Fallback tuning without
// Distributed, did nothing: New returned a local cache and never contacted
// Redis. Each is refused now, naming the field.
func TestConfigRefusesRedisSettingsWithoutDistributed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  cachex.Config
		want string
	}{
		{cachex.Config{Redis: cachex.RedisConfig{URL: "redis://127.0.0.1:6379/0"}}, `redis.url "redis://127.0.0.1:6379/0": the URL is Distributed`},
		{cachex.Config{Distributed: "redis://127.0.0.1:6379/0", Redis: cachex.RedisConfig{URL: "redis://other:6379/0"}}, "set Distributed instead"},
		{cachex.Config{Redis: cachex.RedisConfig{Namespace: "app:"}}, "redis: tunes the Redis store, and Distributed (empty) declares none"},
		{cachex.Config{Fallback: cachex.FallbackConfig{RetryInterval: time.Second}}, "fallback: tunes failing open from Redis"},
		// Instance beside another Local.Instance or Redis.Instance was overridden.
		{cachex.Config{Instance: "a", Local: cachex.LocalConfig{Instance: "b"}}, `instance "a" and local.instance "b" are both set`},
		{cachex.Config{Distributed: "redis://127.0.0.1:6379/0", Instance: "a", Redis: cachex.RedisConfig{Instance: "c"}}, `instance "a" and redis.instance "c" are both set`},
		// Declared shared, the local store New builds was reported
		// distributed_atomic (engine Status, its log line) while its
		// locks and back-offs held in this process alone.
		{cachex.Config{Capabilities: &cachex.Capabilities{Distributed: true, AtomicIncrement: true, Locking: true}}, "capabilities: distributed is declared, and Distributed (empty) declares none"},
	} {
		got, err := cachex.New(c.cfg, nil)
		if err == nil {
			_ = got.Close()
			t.Errorf("New(%+v) = %T, want an error containing %q", c.cfg, got, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v; want it to contain %q", err, c.want)
		}
	}
	// Tuning with Distributed stays valid (New does not contact Redis).
	if err := (cachex.Config{Distributed: "redis://127.0.0.1:6379/0", Redis: cachex.RedisConfig{Namespace: "app:"},
		Fallback: cachex.FallbackConfig{RetryInterval: time.Second}}).Validate(); err != nil {
		t.Fatal(err)
	}
	// Pinning a mode stays valid: local_only over Redis, or any mode beside
	// the Redis it describes.
	for _, cfg := range []cachex.Config{
		{Capabilities: &cachex.Capabilities{}},
		{Distributed: "redis://127.0.0.1:6379/0", Capabilities: &cachex.Capabilities{}},
		{Distributed: "redis://127.0.0.1:6379/0", Capabilities: &cachex.Capabilities{Distributed: true}},
	} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", cfg, err)
		}
	}
}

// A Redis URL's dial_timeout, read_timeout, write_timeout and max_retries
// did nothing: NewRedis set each from RedisConfig or its own default over
// what the URL said. Each is refused now, naming the field to set; an
// option go-redis does not know is refused by Validate, not first by New.
func TestRedisURLOptionsTheCacheOverridesAreRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ query, want string }{
		{"dial_timeout=5s", "option dial_timeout would be overridden by the cache's redis dial_timeout"},
		{"read_timeout=5s", "option read_timeout would be overridden by the cache's redis read_timeout"},
		{"write_timeout=5s", "option write_timeout would be overridden by the cache's redis write_timeout"},
		{"max_retries=3", "option max_retries would be overridden by the cache's redis retries"},
		{"dial_timout=5s", "unexpected option: dial_timout"},
	} {
		url := "redis://127.0.0.1:6379/0?" + c.query
		if err := (cachex.Config{Distributed: url}).Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Config{Distributed: %q}.Validate = %v; want %q", url, err, c.want)
		}
		if r, err := cachex.NewRedis(cachex.RedisConfig{URL: url}); err == nil || !strings.Contains(err.Error(), c.want) {
			if r != nil {
				_ = r.Close()
			}
			t.Errorf("NewRedis(%q) = %v; want %q", url, err, c.want)
		}
	}
	// Options the cache does not set still work.
	if err := (cachex.Config{Distributed: "redis://127.0.0.1:6379/0?pool_size=4&client_name=tasker"}).Validate(); err != nil {
		t.Error(err)
	}
}

// A Redis URL's pool_size beside RedisConfig.PoolSize did nothing (the
// field won), and its min_retry_backoff or max_retry_backoff did nothing
// without RedisConfig.Retries (the cache retries nothing by default). Each
// is refused, by Config.Validate and NewRedis alike, naming both.
func TestRedisURLOptionsThatWouldDoNothingAreRefused(t *testing.T) {
	t.Parallel()
	const base = "redis://127.0.0.1:6379/0?"
	for _, c := range []struct {
		query string
		redis cachex.RedisConfig
		want  string
	}{
		{"pool_size=4", cachex.RedisConfig{PoolSize: 8}, "option pool_size=4 and redis pool_size 8 are both set, and redis pool_size wins: set one"},
		{"min_retry_backoff=10ms", cachex.RedisConfig{}, "option min_retry_backoff spaces retries, and redis retries is 0 (none): set retries or leave the option out"},
		{"max_retry_backoff=1s", cachex.RedisConfig{}, "option max_retry_backoff spaces retries, and redis retries is 0 (none)"},
	} {
		if err := (cachex.Config{Distributed: base + c.query, Redis: c.redis}).Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Config{Distributed: %q, Redis: %+v}.Validate = %v; want %q", c.query, c.redis, err, c.want)
		}
		rc := c.redis
		rc.URL = base + c.query
		if r, err := cachex.NewRedis(rc); err == nil || !strings.Contains(err.Error(), c.want) {
			if r != nil {
				_ = r.Close()
			}
			t.Errorf("NewRedis(%+v) = %v; want %q", rc, err, c.want)
		}
	}
	// Alone, or with retries, they do what they say.
	for _, cfg := range []cachex.Config{
		{Distributed: base + "pool_size=4"},
		{Distributed: base + "min_retry_backoff=10ms&max_retry_backoff=1s", Redis: cachex.RedisConfig{Retries: 2}},
	} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%q: %v", cfg.Distributed, err)
		}
	}
}

// A Redis URL go-redis takes but whose database or protocol cannot mean
// what was meant is refused by Config.Validate and NewRedis alike: a
// negative database (every command then failed, and a Resilient failed
// open for good), a database in the path and in db= (db= won without a
// word), and a protocol other than 2 or 3 (go-redis fell back to another
// without a word).
func TestRedisURLDatabaseAndProtocolMistakesRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ url, want string }{
		{"redis://127.0.0.1:6379/-1", "database -1 is negative"},
		{"redis://127.0.0.1:6379/1?db=3", "the database is given twice, 1 in the path and db=3: give one"},
		{"redis://127.0.0.1:6379/0?protocol=4", "protocol=4: go-redis speaks RESP 2 or 3"},
		{"redis://127.0.0.1:6379/0?protocol=1", "protocol=1: go-redis speaks RESP 2 or 3"},
	} {
		if err := (cachex.Config{Distributed: c.url}).Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Config{Distributed: %q}.Validate = %v; want %q", c.url, err, c.want)
		}
		if r, err := cachex.NewRedis(cachex.RedisConfig{URL: c.url}); err == nil || !strings.Contains(err.Error(), c.want) {
			if r != nil {
				_ = r.Close()
			}
			t.Errorf("NewRedis(%q) = %v; want %q", c.url, err, c.want)
		}
	}
	for _, ok := range []string{"redis://127.0.0.1:6379", "redis://127.0.0.1:6379/2", "redis://127.0.0.1:6379?db=2", "redis://127.0.0.1:6379/0?protocol=2"} {
		if err := (cachex.Config{Distributed: ok}).Validate(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// A negative count in the URL's pool options is refused: go-redis takes
// pool_size=-1 and New panicked (makechan: size out of range) in the
// engine's first use of its cache, after Validate had passed it; the
// other counts did what 0 does, silently.
func TestRedisURLNegativePoolCountsRefused(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"pool_size", "min_idle_conns", "max_idle_conns", "max_active_conns", "max_concurrent_dials"} {
		url := "redis://127.0.0.1:6379/0?" + p + "=-1"
		want := "option " + p + "=-1 is negative"
		if err := (cachex.Config{Distributed: url}).Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Config{Distributed: %q}.Validate = %v; want %q", url, err, want)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("New(Config{Distributed: %q}) panicked: %v", url, r)
				}
			}()
			c, err := cachex.New(cachex.Config{Distributed: url}, nil)
			if c != nil {
				_ = c.Close()
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("New(Config{Distributed: %q}) = %v; want %q", url, err, want)
			}
		}()
	}
}

// A port out of range is refused: go-redis took it, every dial failed
// ("invalid port"), and the cache failed open for good, logging an outage
// of a Redis that was never there.
func TestRedisURLPortOutOfRangeRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ url, want string }{
		{"redis://127.0.0.1:99999/0", "port 99999 is out of range (1 to 65535)"},
		{"redis://127.0.0.1:0/0", "port 0 is out of range (1 to 65535)"},
		{"rediss://u:s3cret@[::1]:65536", "port 65536 is out of range (1 to 65535)"},
	} {
		if err := (cachex.Config{Distributed: c.url}).Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Config{Distributed: %q}.Validate = %v; want %q", c.url, err, c.want)
		}
		if r, err := cachex.NewRedis(cachex.RedisConfig{URL: c.url}); err == nil || !strings.Contains(err.Error(), c.want) {
			if r != nil {
				_ = r.Close()
			}
			t.Errorf("NewRedis(%q) = %v; want %q", c.url, err, c.want)
		}
	}
	for _, ok := range []string{"redis://127.0.0.1:1/0", "redis://127.0.0.1:65535/0", "redis://[::1]:6379", "redis://127.0.0.1/0"} {
		if err := (cachex.Config{Distributed: ok}).Validate(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// A URL with a port but no host name is refused, as one with neither is:
// go-redis dialled localhost, so redis://${REDIS_HOST}:6379 with the
// variable unset shared a cache with whatever ran on this machine.
func TestRedisURLWithoutAHostNameRefused(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"redis://:6379/0", "redis://:s3cret@:6379", "rediss://u@:6380"} {
		want := "no host"
		if err := (cachex.Config{Distributed: url}).Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Config{Distributed: %q}.Validate = %v; want %q", url, err, want)
		}
	}
}

// An option given twice is refused: go-redis takes the last silently, so
// pool_size=1&pool_size=-1 passed the check of the first and New panicked.
func TestRedisURLOptionGivenTwiceRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ url, want string }{
		{"redis://127.0.0.1:6379/0?pool_size=1&pool_size=-1", "option pool_size is given twice (1, -1): give it once"},
		{"redis://127.0.0.1:6379?db=1&db=2", "option db is given twice (1, 2): give it once"},
		{"rediss://127.0.0.1:6379/0?skip_verify=false&skip_verify=true", "option skip_verify is given twice (false, true): give it once"},
	} {
		if err := (cachex.Config{Distributed: c.url}).Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Config{Distributed: %q}.Validate = %v; want %q", c.url, err, c.want)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("NewRedis(%q) panicked: %v", c.url, r)
				}
			}()
			if r, err := cachex.NewRedis(cachex.RedisConfig{URL: c.url}); err == nil || !strings.Contains(err.Error(), c.want) {
				if r != nil {
					_ = r.Close()
				}
				t.Errorf("NewRedis(%q) = %v; want %q", c.url, err, c.want)
			}
		}()
	}
}

// The URL's retry back-offs are refused where go-redis would not do what
// they say: with a max below the min (its defaults included) every retry
// waited the max.
func TestRedisURLRetryBackoffMistakesRefused(t *testing.T) {
	t.Parallel()
	const base = "redis://127.0.0.1:6379/0?"
	retries := cachex.RedisConfig{Retries: 2}
	for _, c := range []struct{ query, want string }{
		{"min_retry_backoff=500ms&max_retry_backoff=100ms", "max_retry_backoff 100ms is below min_retry_backoff 500ms"},
		{"min_retry_backoff=2s", "max_retry_backoff 1s (go-redis's default) is below min_retry_backoff 2s, and every retry would wait the max: set max_retry_backoff too"},
		{"max_retry_backoff=5ms", "max_retry_backoff 5ms is below min_retry_backoff 10ms (go-redis's default), and every retry would wait the max: set min_retry_backoff too"},
	} {
		if err := (cachex.Config{Distributed: base + c.query, Redis: retries}).Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Config{Distributed: %q}.Validate = %v; want %q", c.query, err, c.want)
		}
	}
	for _, ok := range []string{"min_retry_backoff=10ms&max_retry_backoff=1s", "min_retry_backoff=100ms", "max_retry_backoff=2s", "min_retry_backoff=-1&max_retry_backoff=-1", "min_retry_backoff=5ms&max_retry_backoff=5ms", "min_retry_backoff=2s&max_retry_backoff=0"} {
		if err := (cachex.Config{Distributed: base + ok, Redis: retries}).Validate(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// A refused Redis URL is quoted without its password: Config.Validate and
// NewRedis wrote the URL as given, so the worker's "c.yaml:2:
// cache.distributed: …" error put the password in its log, which the
// cache's own log lines (url=redis://:xxxxx@…) keep out.
func TestRefusedRedisURLHidesThePassword(t *testing.T) {
	t.Parallel()
	for _, c := range []cachex.Config{
		{Distributed: "redis://:s3cret@127.0.0.1:6379/0?bogus=1"},
		{Distributed: "redis://u:s3cret@127.0.0.1:6379/-1"},
		{Distributed: "http://u:s3cret@127.0.0.1:6379/0"},
		{Distributed: "redis://u:s3cret@127.0.0.1:6379/0?dial_timeout=1s"},
		{Distributed: "redis://u:s3cret@127.0.0.1:6379/0?pool_size=3", Redis: cachex.RedisConfig{PoolSize: 4}},
	} {
		err := c.Validate()
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "xxxxx@127.0.0.1:6379") {
			t.Errorf("Config{Distributed: %q}.Validate = %v; want an error quoting the URL with its password as xxxxx", c.Distributed, err)
		}
	}
	if r, err := cachex.NewRedis(cachex.RedisConfig{URL: "redis://:s3cret@127.0.0.1:6379/0?bogus=1"}); err == nil || strings.Contains(err.Error(), "s3cret") {
		if r != nil {
			_ = r.Close()
		}
		t.Errorf("NewRedis = %v; want an error without the password", err)
	}
}
