package cachex

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisConfig tunes the Redis store. Only URL is required.
type RedisConfig struct {
	// URL is the server, "redis://[user:password@]host:port/db" or rediss://.
	// Config.Distributed fills it in New.
	URL string `yaml:"-"`
	// Namespace is prepended to every key, before the tasker: prefixes, so
	// several deployments (or parallel tests) can share one Redis.
	Namespace string `yaml:"namespace"`
	// Instance overrides InstanceID() as default lock owner.
	Instance string `yaml:"instance"`
	// DialTimeout, ReadTimeout and WriteTimeout bound each network step.
	// Zero means 500ms, 1s and 1s: a cache that waits long is worse than a
	// miss. Under a millisecond is refused: a bare number is nanoseconds
	// (DialTimeout: 500 is 500 ns, not 500 ms).
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PoolSize is the connection pool size; zero keeps the URL's pool_size
	// or go-redis's default (beside a URL's pool_size it is refused).
	PoolSize int `yaml:"pool_size"`
	// Retries is how many times a failed command is retried; zero (the
	// default) means none, which lets the Resilient wrapper fail open fast
	// (a URL's min_retry_backoff or max_retry_backoff is then refused).
	Retries int `yaml:"retries"`
}

// Validate reports every problem of the configuration at once.
func (c RedisConfig) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url is required"))
	} else if err := validateRedisURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	} else if err := urlBesideFields(c.URL, c); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if err := c.validateTuning(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c RedisConfig) validateTuning() error {
	var errs []error
	errs = validDuration(errs, "dial_timeout", c.DialTimeout)
	errs = validDuration(errs, "read_timeout", c.ReadTimeout)
	errs = validDuration(errs, "write_timeout", c.WriteTimeout)
	if c.PoolSize < 0 {
		errs = append(errs, fmt.Errorf("pool_size must not be negative, got %d", c.PoolSize))
	}
	if c.Retries < 0 {
		errs = append(errs, fmt.Errorf("retries must not be negative, got %d", c.Retries))
	}
	return errors.Join(errs...)
}

// Lua scripts; each runs atomically on the server.
var (
	// KEYS[1] counter; ARGV[1] delta, ARGV[2] ttl in ms (0: none). The
	// expiry is set only on a counter without one: a fixed window.
	// The count is returned as Redis stores it (GET's string), not as
	// INCRBY's reply: Lua holds that as a double, exact only below 2^53.
	incrScript = redis.NewScript(`
redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return redis.call('GET', KEYS[1])`)

	// KEYS[1] lock, KEYS[2] fence counter; ARGV[1] holder value, ARGV[2]
	// ttl in ms, ARGV[3] fence floor. Returns the new fence, or 0 when held.
	// The floor keeps fences rising for this process across a Redis restart
	// that lost the counter.
	lockScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end
local f = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if f < floor then
  redis.call('SET', KEYS[2], floor)
  f = floor
end
return f`)

	// KEYS[1] lock; ARGV[1] holder value. Deletes only our own lock.
	unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
)

// Redis is the distributed store: every process with the same URL and
// Namespace shares its values, counters and locks. Redis holds only cache
// and coordination data; nothing in it is needed to recover a workflow.
type Redis struct {
	client   *redis.Client
	url      string // the URL without its password, for log lines
	ns       string
	instance string
	flights  flightGroup
	closed   atomic.Bool
	// fence is the highest fence this store has issued or observed; the
	// next one is always above it.
	fence atomic.Int64
}

var _ Cache = (*Redis)(nil)

// NewRedis creates a Redis store. It does not contact the server; the first
// command does. Close it to release the connection pool.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis cache config: %w", err)
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis cache url: %w", err)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis cache url: %w", err)
	}
	opt.DialTimeout = orDefault(cfg.DialTimeout, defaultDialTimeout)
	opt.ReadTimeout = orDefault(cfg.ReadTimeout, time.Second)
	opt.WriteTimeout = orDefault(cfg.WriteTimeout, time.Second)
	if cfg.PoolSize > 0 {
		opt.PoolSize = cfg.PoolSize
	}
	opt.MaxRetries = -1
	if cfg.Retries > 0 {
		opt.MaxRetries = cfg.Retries
	}
	opt.DialerRetries = 1
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return &Redis{client: redis.NewClient(opt), url: u.Redacted(), ns: cfg.Namespace,
		instance: instanceOr(cfg.Instance)}, nil
}

// defaultDialTimeout is RedisConfig.DialTimeout's default.
const defaultDialTimeout = 500 * time.Millisecond

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Capabilities of Redis: shared by every process, atomic increments, locks.
func (r *Redis) Capabilities() Capabilities {
	return Capabilities{Distributed: true, AtomicIncrement: true, Locking: true}
}

// Ping checks that the server answers.
func (r *Redis) Ping(ctx context.Context) error {
	if r.closed.Load() {
		return fmt.Errorf("redis ping: %w", ErrClosed)
	}
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", r.mapErr(err))
	}
	return nil
}

// keyProbe is the key a Resilient's probe deletes; nothing writes it.
const keyProbe = "tasker:probe"

// serving checks that the server takes writes, as Ping cannot: a
// read-only replica (an old primary after a failover) answers PING and
// refuses every write (READONLY), as does a primary short of replicas
// (NOREPLICAS). The probe is a DEL of a key nothing writes: a write
// command, which leaves no trace, and which a Redis out of memory still
// takes (its OOM is an answer, not an outage).
func (r *Redis) serving(ctx context.Context) error {
	if r.closed.Load() {
		return fmt.Errorf("redis probe: %w", ErrClosed)
	}
	if err := r.client.Del(ctx, r.ns+keyProbe).Err(); err != nil {
		return fmt.Errorf("redis probe: %w", r.mapErr(err))
	}
	return nil
}

func (r *Redis) key(prefix, key string) string { return r.ns + prefix + key }

// mapErr turns go-redis's closed-client error into ErrClosed.
func (r *Redis) mapErr(err error) error {
	if errors.Is(err, redis.ErrClosed) && r.closed.Load() {
		return ErrClosed
	}
	return err
}

// GetString returns the string stored under key.
func (r *Redis) GetString(ctx context.Context, key string) (string, bool, error) {
	if key == "" {
		return "", false, emptyKey("redis get")
	}
	if r.closed.Load() {
		return "", false, fmt.Errorf("redis get %q: %w", key, ErrClosed)
	}
	v, err := r.client.Get(ctx, r.key(PrefixCache, key)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("redis get %q: %w", key, r.mapErr(err))
	}
	return v, true, nil
}

// Get returns the value stored under key.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if key == "" {
		return nil, false, emptyKey("redis get")
	}
	if r.closed.Load() {
		return nil, false, fmt.Errorf("redis get %q: %w", key, ErrClosed)
	}
	v, err := r.client.Get(ctx, r.key(PrefixCache, key)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("redis get %q: %w", key, r.mapErr(err))
	}
	return v, true, nil
}

// SetString stores value under key for ttl (0: no expiry).
func (r *Redis) SetString(ctx context.Context, key, value string, ttl time.Duration) error {
	return r.set(ctx, key, value, ttl)
}

// Set stores value under key for ttl (0: no expiry).
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return r.set(ctx, key, value, ttl)
}

func (r *Redis) set(ctx context.Context, key string, value any, ttl time.Duration) error {
	if key == "" {
		return emptyKey("redis set")
	}
	if err := checkTTL("redis set", key, ttl); err != nil {
		return err
	}
	if r.closed.Load() {
		return fmt.Errorf("redis set %q: %w", key, ErrClosed)
	}
	if err := r.client.Set(ctx, r.key(PrefixCache, key), value, ttl).Err(); err != nil {
		return fmt.Errorf("redis set %q: %w", key, r.mapErr(err))
	}
	return nil
}

// Delete removes key.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if key == "" {
		return emptyKey("redis delete")
	}
	if r.closed.Load() {
		return fmt.Errorf("redis delete %q: %w", key, ErrClosed)
	}
	if err := r.client.Del(ctx, r.key(PrefixCache, key)).Err(); err != nil {
		return fmt.Errorf("redis delete %q: %w", key, r.mapErr(err))
	}
	return nil
}

// Fetch returns the cached value or loads it once for all concurrent callers
// of this process. Other processes may load the same key concurrently.
func (r *Redis) Fetch(ctx context.Context, key string, ttl time.Duration,
	load func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	return fetch(ctx, "redis fetch", r, &r.flights, key, ttl, load)
}

// Incr runs INCRBY and, for a new counter, PEXPIRE in one Lua script.
func (r *Redis) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if key == "" {
		return 0, emptyKey("redis incr")
	}
	if err := checkTTL("redis incr", key, ttl); err != nil {
		return 0, err
	}
	if r.closed.Load() {
		return 0, fmt.Errorf("redis incr %q: %w", key, ErrClosed)
	}
	v, err := incrScript.Run(ctx, r.client, []string{r.key(PrefixCounter, key)}, delta, ttlMillis(ttl)).Int64()
	if err != nil && strings.Contains(err.Error(), "increment or decrement would overflow") {
		return 0, fmt.Errorf("redis incr %q: %w: adding %d would overflow the counter (int64)", key, ErrInvalid, delta)
	}
	if err != nil {
		return 0, fmt.Errorf("redis incr %q: %w", key, r.mapErr(err))
	}
	return v, nil
}

// ttlMillis rounds a positive ttl up to whole milliseconds; <= 0 gives 0.
func ttlMillis(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

// Lock takes the lock with SET NX PX and a random token, and draws a fence
// from the shared fence counter in the same script.
func (r *Redis) Lock(ctx context.Context, key, owner string, ttl time.Duration) (*Lock, error) {
	if err := lockArgs("redis lock", key, ttl); err != nil {
		return nil, err
	}
	if r.closed.Load() {
		return nil, fmt.Errorf("redis lock %q: %w", key, ErrClosed)
	}
	if owner == "" {
		owner = r.instance
	}
	var token [16]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, fmt.Errorf("redis lock %q: token: %w", key, err)
	}
	holder := owner + "|" + hex.EncodeToString(token[:])
	lockKey := r.key(PrefixLock, key)
	fence, err := lockScript.Run(ctx, r.client, []string{lockKey, r.ns + KeyFence},
		holder, ttlMillis(ttl), r.fence.Load()+1).Int64()
	if err != nil {
		return nil, fmt.Errorf("redis lock %q: %w", key, r.mapErr(err))
	}
	if fence == 0 {
		return nil, fmt.Errorf("redis lock %q: %w", key, ErrLockHeld)
	}
	r.observeFence(fence)
	return &Lock{key: key, owner: owner, fence: fence, release: func(ctx context.Context) error {
		if r.closed.Load() {
			return fmt.Errorf("redis unlock %q: %w", key, ErrClosed)
		}
		n, err := unlockScript.Run(ctx, r.client, []string{lockKey}, holder).Int64()
		if err != nil {
			return fmt.Errorf("redis unlock %q: %w", key, r.mapErr(err))
		}
		if n == 0 {
			return fmt.Errorf("redis unlock %q: %w", key, ErrNotHeld)
		}
		return nil
	}}, nil
}

// observeFence makes every later fence drawn by this store greater than n.
func (r *Redis) observeFence(n int64) {
	for {
		cur := r.fence.Load()
		if cur >= n || r.fence.CompareAndSwap(cur, n) {
			return
		}
	}
}

// lastFence is the highest fence this store has issued or observed.
func (r *Redis) lastFence() int64 { return r.fence.Load() }

// Close closes the connection pool. It is idempotent.
func (r *Redis) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("redis close: %w", err)
	}
	return nil
}
