package cachex

import (
	"sync"
	"sync/atomic"
	"time"
)

// sweepEvery is how many coordination operations pass between two sweeps of
// expired counters and locks, which keeps the maps bounded by the live keys
// at an amortised O(1) cost.
const sweepEvery = 1024

// coordination holds the local store's counters and locks. They live in a
// plain map rather than in ristretto: they must never be evicted by the cost
// policy, and an increment must see the previous one at once.
type coordination struct {
	mu       sync.Mutex
	counters map[string]counter
	locks    map[string]heldLock
	ops      int
	// fence is the last fencing token issued or observed; one sequence for
	// every lock key.
	fence atomic.Int64
}

type counter struct {
	value   int64
	expires time.Time // zero: never
}

type heldLock struct {
	owner   string
	fence   int64
	expires time.Time
}

func expired(expires, now time.Time) bool {
	return !expires.IsZero() && !now.Before(expires)
}

// incr adds delta to the counter under key; ok is false, and nothing
// changes, when the sum would overflow int64 (Redis refuses it too).
func (c *coordination) incr(key string, delta int64, ttl time.Duration, now time.Time) (v int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maybeSweep(now)
	if c.counters == nil {
		c.counters = make(map[string]counter)
	}
	cur, found := c.counters[key]
	if !found || expired(cur.expires, now) {
		cur = counter{}
	}
	sum := cur.value + delta
	if (delta > 0 && sum < cur.value) || (delta < 0 && sum > cur.value) {
		return cur.value, false
	}
	cur.value = sum
	if cur.expires.IsZero() && ttl > 0 {
		cur.expires = now.Add(ttl)
	}
	c.counters[key] = cur
	return cur.value, true
}

// lock takes key for owner unless a live lock holds it, and returns the new
// fencing token.
func (c *coordination) lock(key, owner string, ttl time.Duration, now time.Time) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maybeSweep(now)
	if c.locks == nil {
		c.locks = make(map[string]heldLock)
	}
	if cur, ok := c.locks[key]; ok && !expired(cur.expires, now) {
		return 0, false
	}
	fence := c.fence.Add(1)
	c.locks[key] = heldLock{owner: owner, fence: fence, expires: now.Add(ttl)}
	return fence, true
}

// unlock frees key if the acquisition with this fence still holds it.
func (c *coordination) unlock(key string, fence int64, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.locks[key]
	if !ok || cur.fence != fence {
		return false
	}
	delete(c.locks, key)
	return !expired(cur.expires, now)
}

// observeFence raises the fence sequence to at least n.
func (c *coordination) observeFence(n int64) {
	for {
		cur := c.fence.Load()
		if cur >= n || c.fence.CompareAndSwap(cur, n) {
			return
		}
	}
}

// clear drops counters and locks; the fence sequence stays monotonic.
func (c *coordination) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counters = nil
	c.locks = nil
}

func (c *coordination) maybeSweep(now time.Time) {
	c.ops++
	if c.ops < sweepEvery {
		return
	}
	c.ops = 0
	for k, v := range c.counters {
		if expired(v.expires, now) {
			delete(c.counters, k)
		}
	}
	for k, v := range c.locks {
		if expired(v.expires, now) {
			delete(c.locks, k)
		}
	}
}
