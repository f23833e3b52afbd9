package cachex

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// DefaultMaxBytes bounds the local store when LocalConfig.MaxBytes is zero.
const DefaultMaxBytes = 64 << 20

// LocalConfig tunes the in-process store.
type LocalConfig struct {
	// MaxBytes bounds the memory the cached values may take (keys, values
	// and ristretto's per-entry overhead). Zero means DefaultMaxBytes;
	// under a KiB is refused: it counts bytes, so 64 meant as 64 MiB made
	// a store that kept next to nothing.
	MaxBytes int64 `yaml:"max_bytes"`
	// NumCounters is the number of admission counters ristretto keeps;
	// about ten times the number of entries expected when full. Zero derives
	// it from MaxBytes.
	NumCounters int64 `yaml:"num_counters"`
	// Instance overrides InstanceID() in Stats and as default lock owner.
	Instance string `yaml:"instance"`
}

// Validate reports every problem of the configuration at once.
func (c LocalConfig) Validate() error {
	var errs []error
	switch {
	case c.MaxBytes < 0:
		errs = append(errs, fmt.Errorf("max_bytes must not be negative, got %d", c.MaxBytes))
	case c.MaxBytes > 0 && c.MaxBytes < 1<<10:
		// Every Set would answer nil and keep next to nothing (a toggle
		// set on would read off again).
		errs = append(errs, fmt.Errorf("max_bytes %d is under a KiB: it counts bytes (write 64 << 20 for 64 MiB)", c.MaxBytes))
	}
	if c.NumCounters < 0 {
		errs = append(errs, fmt.Errorf("num_counters must not be negative, got %d", c.NumCounters))
	}
	return errors.Join(errs...)
}

// Stats are the local store's counters since it was created (a
// Resilient emptying it when failing open, or Close, resets none).
type Stats struct {
	Instance  string
	Hits      uint64
	Misses    uint64
	Evictions uint64 // entries pushed out by the cost bound
	Expired   uint64 // entries removed by TTL cleanup
	MaxBytes  int64
}

// Local is the in-process store: values in a cost-bounded ristretto cache,
// counters and locks in a mutex-guarded map. It is shared by the goroutines
// of this process only, and says so in Capabilities.
type Local struct {
	// mu is held shared by every operation and exclusively by Close and
	// reset, which ristretto requires to run alone.
	mu       sync.RWMutex
	closed   bool
	values   *ristretto.Cache[string, string]
	coord    coordination
	flights  flightGroup
	instance string
	maxBytes int64
	evicted  atomic.Uint64
	expired  atomic.Uint64
	clearing atomic.Bool
	// hits and misses are those of the ristretto metrics that Close and
	// reset clear (guarded by mu: written under it held exclusively).
	hits, misses uint64
}

var _ Cache = (*Local)(nil)

// NewLocal creates an in-process store. Close it to stop ristretto's
// goroutines.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("local cache config: %w", err)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.NumCounters == 0 {
		// Assume entries of about 1 KiB on average, ten counters each.
		cfg.NumCounters = max(cfg.MaxBytes/1024*10, 1000)
	}
	l := &Local{instance: instanceOr(cfg.Instance), maxBytes: cfg.MaxBytes}
	values, err := ristretto.NewCache(&ristretto.Config[string, string]{
		NumCounters: cfg.NumCounters,
		MaxCost:     cfg.MaxBytes,
		BufferItems: 64,
		Metrics:     true,
		OnEvict: func(item *ristretto.Item[string]) {
			// Clear (Close, reset) reports every entry; those are not
			// evictions. TTL cleanup reports items whose expiration has
			// passed; cost-policy victims carry no expiration.
			if l.clearing.Load() {
				return
			}
			if !item.Expiration.IsZero() && !time.Now().Before(item.Expiration) {
				l.expired.Add(1)
				return
			}
			l.evicted.Add(1)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("local cache: %w", err)
	}
	l.values = values
	return l, nil
}

// done refuses a call whose ctx is already done, as Redis does (go-redis
// sends nothing then): the local store never waits, but answering would
// make a Resilient failing open serve what it refuses with Redis up.
func done(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %q: %w", op, key, err)
	}
	return nil
}

// Stats returns the store's hit, miss and eviction counters.
func (l *Local) Stats() Stats {
	s := Stats{Instance: l.instance, MaxBytes: l.maxBytes,
		Evictions: l.evicted.Load(), Expired: l.expired.Load()}
	l.mu.RLock()
	defer l.mu.RUnlock()
	s.Hits, s.Misses = l.hits, l.misses
	if !l.closed {
		s.Hits += l.values.Metrics.Hits()
		s.Misses += l.values.Metrics.Misses()
	}
	return s
}

// keepMetrics adds ristretto's hits and misses to the store's before
// Close or Clear drops them; l.mu must be held exclusively.
func (l *Local) keepMetrics() {
	l.hits += l.values.Metrics.Hits()
	l.misses += l.values.Metrics.Misses()
}

// Capabilities of the local store: atomic increments and locks hold among
// the goroutines of this process only.
func (l *Local) Capabilities() Capabilities {
	return Capabilities{Distributed: false, AtomicIncrement: true, Locking: true}
}

// GetString returns the string stored under key. A hit does not allocate.
func (l *Local) GetString(ctx context.Context, key string) (string, bool, error) {
	if key == "" {
		return "", false, emptyKey("local get")
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return "", false, fmt.Errorf("local get %q: %w", key, ErrClosed)
	}
	if err := done(ctx, "local get", key); err != nil {
		l.mu.RUnlock()
		return "", false, err
	}
	v, ok := l.values.Get(key)
	l.mu.RUnlock()
	return v, ok, nil
}

// Get returns a copy of the value stored under key.
func (l *Local) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, ok, err := l.GetString(ctx, key)
	if !ok || err != nil {
		return nil, ok, err
	}
	return []byte(v), true, nil
}

// SetString stores value under key for ttl (0: no expiry). The value
// is visible to Get when SetString returns, unless the cost policy refused
// it.
func (l *Local) SetString(ctx context.Context, key, value string, ttl time.Duration) error {
	if key == "" {
		return emptyKey("local set")
	}
	if err := checkTTL("local set", key, ttl); err != nil {
		return err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return fmt.Errorf("local set %q: %w", key, ErrClosed)
	}
	if err := done(ctx, "local set", key); err != nil {
		return err
	}
	// Ristretto applies new keys asynchronously; Wait makes the write
	// visible before we return. An update of a present key is immediate.
	if l.values.SetWithTTL(key, value, int64(len(key)+len(value)), ttl) {
		l.values.Wait()
	}
	return nil
}

// Set stores a copy of value under key for ttl.
func (l *Local) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return l.SetString(ctx, key, string(value), ttl)
}

// Delete removes key.
func (l *Local) Delete(ctx context.Context, key string) error {
	if key == "" {
		return emptyKey("local delete")
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return fmt.Errorf("local delete %q: %w", key, ErrClosed)
	}
	if err := done(ctx, "local delete", key); err != nil {
		return err
	}
	l.values.Del(key)
	return nil
}

// Fetch returns the cached value or loads it once for all concurrent callers.
func (l *Local) Fetch(ctx context.Context, key string, ttl time.Duration,
	load func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	return fetch(ctx, "local fetch", l, &l.flights, key, ttl, load)
}

// Incr adds delta to the in-process counter under key.
func (l *Local) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if key == "" {
		return 0, emptyKey("local incr")
	}
	if err := checkTTL("local incr", key, ttl); err != nil {
		return 0, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, fmt.Errorf("local incr %q: %w", key, ErrClosed)
	}
	if err := done(ctx, "local incr", key); err != nil {
		return 0, err
	}
	v, ok := l.coord.incr(key, delta, ttl, time.Now())
	if !ok {
		return 0, incrOverflow("local incr", key, delta, v)
	}
	return v, nil
}

// Lock takes an in-process lock.
func (l *Local) Lock(ctx context.Context, key, owner string, ttl time.Duration) (*Lock, error) {
	if err := lockArgs("local lock", key, ttl); err != nil {
		return nil, err
	}
	if owner == "" {
		owner = l.instance
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, fmt.Errorf("local lock %q: %w", key, ErrClosed)
	}
	if err := ctx.Err(); err != nil { // (as done, without formatting the op on every call)
		return nil, fmt.Errorf("local lock %q: %w", key, err)
	}
	fence, ok := l.coord.lock(key, owner, ttl, time.Now())
	if !ok {
		return nil, fmt.Errorf("local lock %q: %w", key, ErrLockHeld)
	}
	return &Lock{key: key, owner: owner, fence: fence, release: func(ctx context.Context) error {
		l.mu.RLock()
		defer l.mu.RUnlock()
		if l.closed {
			return fmt.Errorf("local unlock %q: %w", key, ErrClosed)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("local unlock %q: %w", key, err)
		}
		if !l.coord.unlock(key, fence, time.Now()) {
			return fmt.Errorf("local unlock %q: %w", key, ErrNotHeld)
		}
		return nil
	}}, nil
}

// Close stops ristretto's goroutines and drops every entry. It is idempotent.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.keepMetrics()
	l.clearing.Store(true)
	l.values.Close()
	l.coord.clear()
	return nil
}

// isClosed reports whether Close has been called.
func (l *Local) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// reset drops values, counters and locks but keeps the fence sequence. The
// Resilient wrapper calls it when it starts failing open, so an outage never
// serves what an earlier outage left behind.
func (l *Local) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.keepMetrics()
	l.clearing.Store(true)
	l.values.Clear()
	l.clearing.Store(false)
	l.coord.clear()
}

// observeFence makes every later fence of this store greater than n.
func (l *Local) observeFence(n int64) { l.coord.observeFence(n) }

// lastFence is the highest fence this store has issued or observed.
func (l *Local) lastFence() int64 { return l.coord.fence.Load() }
