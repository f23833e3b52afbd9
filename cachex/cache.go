package cachex

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Key prefixes used in Redis. A Redis key is Namespace + prefix + key, so
// several deployments can share one Redis by choosing distinct namespaces.
// The local store keeps values, counters and locks in separate structures and
// needs no prefixes.
const (
	PrefixCache   = "tasker:cache:"
	PrefixCounter = "tasker:counter:"
	PrefixLock    = "tasker:lock:"
	// KeyFence is the single counter every fencing token comes from. One
	// counter for all lock keys is enough for "monotonic per key" and never
	// leaks one key per lock name.
	KeyFence = "tasker:fence"
)

// Errors returned by every Cache implementation. They are wrapped with the
// action that failed, so test them with errors.Is.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("cachex: cache closed")
	// ErrLockHeld is returned by Lock when another owner holds the lock.
	ErrLockHeld = errors.New("cachex: lock held by another owner")
	// ErrNotHeld is returned by Lock.Release when the lock expired or was
	// taken over; the release then changed nothing.
	ErrNotHeld = errors.New("cachex: lock not held")
	// ErrInvalidTTL is returned when a lock is asked for without a positive TTL.
	ErrInvalidTTL = errors.New("cachex: ttl must be positive")
	// ErrInvalid is returned, wrapped with the call and the value, for an
	// argument that cannot mean what was meant: an empty key or lock name,
	// an empty system name (SystemGate), a negative ttl (0 is no expiry),
	// a positive ttl under a millisecond
	// (a bare number is nanoseconds: Incr(ctx, k, 1, 5) is 5 ns, not 5 s),
	// an Incr whose sum would overflow int64 (the counter keeps its value).
	// Nothing is read or written. A Resilient never fails open for it.
	ErrInvalid = errors.New("cachex: invalid argument")
)

// emptyKey is the error of a call (op: "local get") given an empty key.
// Callers test key == "" themselves: a length check, cheap on every hit.
func emptyKey(op string) error {
	return fmt.Errorf("%s: %w: the key is empty", op, ErrInvalid)
}

// checkTTL refuses a negative ttl and a positive one under a millisecond,
// naming the call and the key; 0 (no expiry) passes. A negative ttl is
// most often a deadline already past (time.Until): taken as "no expiry",
// the value meant to be gone would be kept for ever. Lock refuses a ttl
// <= 0 itself, with ErrInvalidTTL, before it asks.
func checkTTL(op, key string, ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("%s %q: %w: ttl %s is negative (0 means no expiry)", op, key, ErrInvalid, ttl)
	}
	if ttl == 0 || ttl >= time.Millisecond {
		return nil
	}
	return fmt.Errorf("%s %q: %w: ttl %s is under a millisecond (a bare number is nanoseconds: write 30*time.Second, not 30)", op, key, ErrInvalid, ttl)
}

// incrOverflow is the error of an Incr whose sum would overflow int64; the
// counter keeps its value cur (Redis refuses such an INCRBY the same way).
func incrOverflow(op, key string, delta, cur int64) error {
	return fmt.Errorf("%s %q: %w: adding %d to %d would overflow the counter (int64)", op, key, ErrInvalid, delta, cur)
}

// MaxLockTTL bounds a lock's ttl: a lock is held while its work runs, and
// one held for longer than a year is a mistake (time.Duration(math.MaxInt64)
// for "forever"), which Redis refused with its own error and Local took.
const MaxLockTTL = 365 * 24 * time.Hour

// lockArgs refuses what no Lock may take: an empty key, a ttl that is not
// positive (ErrInvalidTTL), under a millisecond or over MaxLockTTL. op
// names the call ("local lock", "redis lock", "resilient lock").
func lockArgs(op, key string, ttl time.Duration) error {
	if key == "" {
		return emptyKey(op)
	}
	if ttl <= 0 {
		return fmt.Errorf("%s %q: %w", op, key, ErrInvalidTTL)
	}
	if ttl > MaxLockTTL {
		return fmt.Errorf("%s %q: %w: ttl %s is over a year (cachex.MaxLockTTL): take the lock for the work's length and take it again", op, key, ErrInvalid, ttl)
	}
	return checkTTL(op, key, ttl)
}

// Cache is the cache and coordination store the engine talks to. Values are
// opaque bytes (see GetJSON and SetJSON for typed values). A ttl of 0 on
// Set, Fetch and Incr means "no expiry"; a negative one, a positive one
// under a millisecond, and an empty key, are refused (ErrInvalid) by every
// method that takes them.
// A call (or Lock.Release) whose ctx is already done returns an error
// wrapping ctx.Err() and reads or writes nothing, on every store: Redis
// sends nothing then, and the local store, which never waits, refuses it
// alike, so a Resilient answers the same with Redis up and failing open.
// Every method is safe for concurrent use.
type Cache interface {
	// Get returns a copy of the value stored under key; ok is false on a miss.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// GetString is Get for string values; on the local store it does not
	// allocate.
	GetString(ctx context.Context, key string) (value string, ok bool, err error)
	// Set stores value under key for ttl. A local store may drop entries
	// under memory pressure; a cache never promises to keep a value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetString is Set for string values.
	SetString(ctx context.Context, key, value string, ttl time.Duration) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Fetch returns the cached value, or calls load on a miss, stores its
	// result for ttl and returns it. Concurrent misses for one key in this
	// process call load once and share its result; load gets the ctx of
	// the caller that ran it, and when that ctx ends and load fails, the
	// callers still waiting load again rather than share the error of
	// someone else's giving up. Errors from load are
	// returned as is and nothing is cached. A nil load is an error, hit
	// or miss.
	Fetch(ctx context.Context, key string, ttl time.Duration, load func(ctx context.Context) ([]byte, error)) ([]byte, error)
	// Incr adds delta to the counter under key and returns the new value.
	// A counter that does not exist starts at zero and gets ttl; later
	// increments keep the original expiry (a fixed window). A counter
	// made without one (ttl 0) takes the ttl of the first later Incr that
	// gives one: that window starts then. A sum that
	// would overflow int64 is refused (ErrInvalid) and changes nothing.
	Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
	// Lock takes the lock named key for owner, for ttl, without waiting.
	// When another acquisition holds it, the error wraps ErrLockHeld.
	// Locks are not re-entrant: the same owner is refused too.
	// An empty owner is replaced by the instance identity.
	Lock(ctx context.Context, key, owner string, ttl time.Duration) (*Lock, error)
	// Capabilities tells what this store guarantees right now.
	Capabilities() Capabilities
	// Close releases the store's resources. It is idempotent; every other
	// method returns ErrClosed afterwards.
	Close() error
}

// Capabilities describes the guarantees of a store.
type Capabilities struct {
	// Distributed is true when the state is shared by every process that
	// uses the same backend, not only by this process.
	Distributed bool `yaml:"distributed" json:"distributed"`
	// AtomicIncrement is true when Incr is atomic among all the processes
	// that share the state.
	AtomicIncrement bool `yaml:"atomic_increment" json:"atomic_increment"`
	// Locking is true when Lock excludes every process that shares the state.
	Locking bool `yaml:"locking" json:"locking"`
}

// Lock is one successful acquisition of a named lock.
type Lock struct {
	key     string
	owner   string
	fence   int64
	release func(ctx context.Context) error
}

// Key is the lock's name as given to Cache.Lock.
func (l *Lock) Key() string { return l.key }

// Owner is the owner recorded for this acquisition.
func (l *Lock) Owner() string { return l.owner }

// Fence is this acquisition's fencing token. Tokens increase with every
// acquisition of the store, so a protected resource can reject writes that
// carry a token lower than the highest it has seen (a stale owner).
func (l *Lock) Fence() int64 { return l.fence }

// Release frees the lock if this acquisition still holds it. When the lock
// expired, or expired and was taken by someone else, Release changes nothing
// and returns an error wrapping ErrNotHeld.
func (l *Lock) Release(ctx context.Context) error { return l.release(ctx) }
