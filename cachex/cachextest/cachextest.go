// Package cachextest is the conformance suite every cachex.Cache must pass.
// Run it from a test of the store:
//
//	func TestMyStore(t *testing.T) {
//		cachextest.Exercise(t, func(t *testing.T) cachex.Cache {
//			c := newMyStore(t)
//			t.Cleanup(func() { c.Close() })
//			return c
//		})
//	}
//
// newCache is called once per subtest and must return an empty cache that
// no other subtest sees (for Redis: a unique namespace). Subtests run in
// parallel.
package cachextest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
)

// ShortTTL is the TTL used where the suite waits for an expiry.
const ShortTTL = 150 * time.Millisecond

// deadline bounds every wait of the suite.
const deadline = 10 * time.Second

// Exercise runs the conformance suite against the caches newCache returns.
func Exercise(t *testing.T, newCache func(t *testing.T) cachex.Cache) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, c cachex.Cache)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"TTLExpiry", testTTLExpiry},
		{"FetchLoadsOnce", testFetchLoadsOnce},
		{"FetchErrorNotCached", testFetchErrorNotCached},
		{"FetchNilLoadRefused", testFetchNilLoadRefused},
		{"InvalidArgumentsRefused", testInvalidArgumentsRefused},
		{"CancelledContextRefused", testCancelledContextRefused},
		{"IncrAtomic", testIncrAtomic},
		{"IncrTTL", testIncrTTL},
		{"IncrOverflowRefused", testIncrOverflowRefused},
		{"LockExcludes", testLockExcludes},
		{"LockExpires", testLockExpires},
		{"StaleReleaseKeepsNewOwner", testStaleRelease},
		{"FencesIncrease", testFencesIncrease},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newCache(t))
		})
	}
}

// Eventually polls cond every few milliseconds until it holds, and fails
// the test if it does not within the suite's deadline.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not true after %v", what, deadline)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testGetSetDelete(t *testing.T, c cachex.Cache) {
	ctx := context.Background()
	if _, ok, err := c.Get(ctx, "k"); err != nil || ok {
		t.Fatalf("Get on empty cache = ok %v, err %v; want a miss", ok, err)
	}
	if err := c.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
		t.Fatalf("Set: %v", err)
	}
	v, ok, err := c.Get(ctx, "k")
	if err != nil || !ok || string(v) != "v1" {
		t.Fatalf("Get = %q, %v, %v; want v1", v, ok, err)
	}
	v[0] = 'X' // the returned slice must be the caller's own
	if s, ok, err := c.GetString(ctx, "k"); err != nil || !ok || s != "v1" {
		t.Fatalf("GetString after mutating a Get result = %q, %v, %v; want v1", s, ok, err)
	}
	if err := c.SetString(ctx, "k", "v2", 0); err != nil {
		t.Fatalf("SetString: %v", err)
	}
	if s, ok, err := c.GetString(ctx, "k"); err != nil || !ok || s != "v2" {
		t.Fatalf("GetString = %q, %v, %v; want v2", s, ok, err)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok, err := c.GetString(ctx, "k"); err != nil || ok {
		t.Fatalf("GetString after Delete = ok %v, err %v; want a miss", ok, err)
	}
	if err := c.Delete(ctx, "never-set"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
}

func testTTLExpiry(t *testing.T, c cachex.Cache) {
	ctx := context.Background()
	if err := c.SetString(ctx, "keep", "forever", 0); err != nil {
		t.Fatalf("SetString: %v", err)
	}
	start := time.Now()
	if err := c.SetString(ctx, "short", "v", ShortTTL); err != nil {
		t.Fatalf("SetString: %v", err)
	}
	// Right after the write the value is there (unless this goroutine was
	// descheduled for longer than the ttl).
	s, ok, err := c.GetString(ctx, "short")
	if err != nil || (ok && s != "v") || (!ok && time.Since(start) < ShortTTL) {
		t.Fatalf("GetString right after SetString = %q, %v, %v; want v", s, ok, err)
	}
	Eventually(t, "short-lived key expires", func() bool {
		_, ok, err := c.GetString(ctx, "short")
		if err != nil {
			t.Fatalf("GetString: %v", err)
		}
		return !ok
	})
	if elapsed := time.Since(start); elapsed < ShortTTL {
		t.Fatalf("key expired after %v, before its ttl %v", elapsed, ShortTTL)
	}
	if s, ok, err := c.GetString(ctx, "keep"); err != nil || !ok || s != "forever" {
		t.Fatalf("key without ttl = %q, %v, %v; want it kept", s, ok, err)
	}
}

func testFetchLoadsOnce(t *testing.T, c cachex.Cache) {
	const n = 32
	ctx := context.Background()
	var loads atomic.Int32
	var started sync.WaitGroup
	started.Add(n)
	allStarted := make(chan struct{})
	go func() { started.Wait(); close(allStarted) }()

	load := func(context.Context) ([]byte, error) {
		loads.Add(1)
		// Barrier: hold the load until every caller has started, so the
		// callers really overlap with it.
		select {
		case <-allStarted:
		case <-time.After(deadline):
			return nil, errors.New("barrier: not every caller started")
		}
		return []byte("loaded"), nil
	}
	results := make([][]byte, n)
	errs := make([]error, n)
	var done sync.WaitGroup
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			results[i], errs[i] = c.Fetch(ctx, "sf", time.Minute, load)
		}()
	}
	done.Wait()
	for i := range n {
		if errs[i] != nil || string(results[i]) != "loaded" {
			t.Fatalf("Fetch #%d = %q, %v; want loaded", i, results[i], errs[i])
		}
	}
	if got := loads.Load(); got != 1 {
		t.Fatalf("%d concurrent Fetch misses loaded %d times; want 1", n, got)
	}
	// Now a hit: load must not run.
	v, err := c.Fetch(ctx, "sf", time.Minute, func(context.Context) ([]byte, error) {
		return nil, errors.New("load called on a hit")
	})
	if err != nil || string(v) != "loaded" {
		t.Fatalf("Fetch on a hit = %q, %v", v, err)
	}
}

func testFetchErrorNotCached(t *testing.T, c cachex.Cache) {
	ctx := context.Background()
	boom := errors.New("boom")
	if _, err := c.Fetch(ctx, "e", time.Minute, func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Fetch with failing load = %v; want boom", err)
	}
	v, err := c.Fetch(ctx, "e", time.Minute, func(context.Context) ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(v) != "ok" {
		t.Fatalf("Fetch after a failed load = %q, %v; want ok", v, err)
	}
}

// testFetchNilLoadRefused: a nil load is an error on a miss and on a hit
// alike. It panicked on a miss only, so code that passed one ran while the
// key stayed cached and panicked once it expired.
func testFetchNilLoadRefused(t *testing.T, c cachex.Cache) {
	ctx := context.Background()
	for _, cached := range []bool{false, true} {
		if cached {
			if err := c.Set(ctx, "nl", []byte("v"), time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Fetch(ctx, "nl", time.Minute, nil); err == nil || !strings.Contains(err.Error(), `fetch "nl": load is nil`) {
			t.Fatalf("Fetch with a nil load (cached: %v) = %v", cached, err)
		}
		if _, err := cachex.FetchJSON[int](ctx, c, "nl", time.Minute, nil); err == nil || !strings.Contains(err.Error(), `fetch "nl": load is nil`) {
			t.Fatalf("FetchJSON with a nil load (cached: %v) = %v", cached, err)
		}
	}
}

func testIncrAtomic(t *testing.T, c cachex.Cache) {
	const goroutines, each = 50, 20
	ctx := context.Background()
	seen := make([]atomic.Bool, goroutines*each+1)
	var wg sync.WaitGroup
	errc := make(chan error, goroutines)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				v, err := c.Incr(ctx, "n", 1, time.Minute)
				if err != nil {
					errc <- err
					return
				}
				if v < 1 || v > goroutines*each || seen[v].Swap(true) {
					errc <- fmt.Errorf("value %d from Incr seen twice or out of range", v)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if v, err := c.Incr(ctx, "n", 0, time.Minute); err != nil || v != goroutines*each {
		t.Fatalf("counter = %d, %v; want %d", v, err, goroutines*each)
	}
	if v, err := c.Incr(ctx, "n", -5, time.Minute); err != nil || v != goroutines*each-5 {
		t.Fatalf("Incr by -5 = %d, %v; want %d", v, err, goroutines*each-5)
	}
}

// testIncrOverflowRefused: a sum past int64 is refused as ErrInvalid and
// leaves the counter as it was (Redis refused it, the local store wrapped
// round to a negative count). Counts past 2^53 are exact (Redis's script
// returned them through a Lua number, a double: Incr(k, MaxInt64) answered
// MinInt64).
func testIncrOverflowRefused(t *testing.T, c cachex.Cache) {
	ctx := context.Background()
	for _, step := range []struct {
		key         string
		delta, want int64
		overflows   bool
	}{
		{"up", 1 << 62, 1 << 62, false},
		{"up", 1 << 62, 0, true}, // 2^63 is past MaxInt64
		{"up", 0, 1 << 62, false},
		{"down", -1 << 62, -1 << 62, false},
		{"down", -1 << 62, math.MinInt64, false},
		{"down", -1, 0, true},
		{"down", 0, math.MinInt64, false},
		{"odd", 1<<53 + 1, 1<<53 + 1, false},
		{"odd", 2, 1<<53 + 3, false},
		{"max", math.MaxInt64, math.MaxInt64, false},
		{"max", 1, 0, true},
	} {
		v, err := c.Incr(ctx, step.key, step.delta, time.Minute)
		switch {
		case step.overflows && (!errors.Is(err, cachex.ErrInvalid) || !strings.Contains(err.Error(), "overflow")):
			t.Errorf("Incr(%s, %d) past int64 = %d, %v; want ErrInvalid naming the overflow", step.key, step.delta, v, err)
		case !step.overflows && (err != nil || v != step.want):
			t.Errorf("Incr(%s, %d) = %d, %v; want %d", step.key, step.delta, v, err, step.want)
		}
	}
}

func testIncrTTL(t *testing.T, c cachex.Cache) {
	ctx := context.Background()
	if v, err := c.Incr(ctx, "w", 3, ShortTTL); err != nil || v != 3 {
		t.Fatalf("Incr = %d, %v; want 3", v, err)
	}
	if v, err := c.Incr(ctx, "w", 1, time.Hour); err != nil || v < 1 {
		t.Fatalf("Incr = %d, %v", v, err)
	}
	// The second Incr must not have extended the window.
	Eventually(t, "counter window expires", func() bool {
		v, err := c.Incr(ctx, "w", 0, 0)
		if err != nil {
			t.Fatalf("Incr: %v", err)
		}
		return v == 0
	})
	// A counter made without an expiry takes the ttl of the first later
	// Incr that gives one (as the Cache doc says).
	if v, err := c.Incr(ctx, "late", 2, 0); err != nil || v != 2 {
		t.Fatalf("Incr(late, 2, 0) = %d, %v; want 2", v, err)
	}
	if v, err := c.Incr(ctx, "late", 1, ShortTTL); err != nil || v != 3 {
		t.Fatalf("Incr(late, 1, ShortTTL) = %d, %v; want 3", v, err)
	}
	Eventually(t, "a counter made without expiry expires with the ttl given later", func() bool {
		v, err := c.Incr(ctx, "late", 0, 0)
		if err != nil {
			t.Fatalf("Incr: %v", err)
		}
		return v == 0
	})
}

func testLockExcludes(t *testing.T, c cachex.Cache) {
	ctx := context.Background()
	a, err := c.Lock(ctx, "l", "owner-a", time.Minute)
	if err != nil {
		t.Fatalf("Lock by a: %v", err)
	}
	if a.Owner() != "owner-a" || a.Key() != "l" {
		t.Fatalf("lock = key %q owner %q", a.Key(), a.Owner())
	}
	if _, err := c.Lock(ctx, "l", "owner-b", time.Minute); !errors.Is(err, cachex.ErrLockHeld) {
		t.Fatalf("Lock by b while a holds it = %v; want ErrLockHeld", err)
	}
	if _, err := c.Lock(ctx, "l", "owner-a", time.Minute); !errors.Is(err, cachex.ErrLockHeld) {
		t.Fatalf("second Lock by a = %v; want ErrLockHeld (locks are not re-entrant)", err)
	}
	if _, err := c.Lock(ctx, "other", "owner-b", time.Minute); err != nil {
		t.Fatalf("Lock of another key: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("Release by a: %v", err)
	}
	if err := a.Release(ctx); !errors.Is(err, cachex.ErrNotHeld) {
		t.Fatalf("second Release by a = %v; want ErrNotHeld", err)
	}
	b, err := c.Lock(ctx, "l", "owner-b", time.Minute)
	if err != nil {
		t.Fatalf("Lock by b after release: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatalf("Release by b: %v", err)
	}
	if _, err := c.Lock(ctx, "l", "x", 0); !errors.Is(err, cachex.ErrInvalidTTL) {
		t.Fatalf("Lock with ttl 0 = %v; want ErrInvalidTTL", err)
	}
}

// testInvalidArgumentsRefused: an empty key and a positive ttl under a
// millisecond (a bare number is nanoseconds: Incr(ctx, k, 1, 5) meant 5 s)
// are refused by every call that takes them, with cachex.ErrInvalid naming
// the call and the value, and nothing is written. They were accepted: a
// 5 ns counter window (1 ms on Redis, which rounds up), one value shared by
// every caller that built an empty key.
func testInvalidArgumentsRefused(t *testing.T, c cachex.Cache) {
	ctx := context.Background()
	load := func(context.Context) ([]byte, error) { return []byte("loaded"), nil }
	// refused checks the error is cachex.ErrInvalid and holds each of
	// wants: the call and the value.
	refused := func(call string, err error, wants ...string) {
		t.Helper()
		if !errors.Is(err, cachex.ErrInvalid) {
			t.Errorf("%s = %v; want cachex.ErrInvalid", call, err)
			return
		}
		for _, want := range wants {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s = %v; want it to say %q", call, err, want)
			}
		}
	}
	errOf := func(_ any, err error) error { return err }
	errOf3 := func(_ any, _ bool, err error) error { return err }
	const empty = "the key is empty"
	refused(`Get("")`, errOf3(c.Get(ctx, "")), "get", empty)
	refused(`GetString("")`, errOf3(c.GetString(ctx, "")), "get", empty)
	refused(`Set("")`, c.Set(ctx, "", []byte("v"), time.Minute), "set", empty)
	refused(`SetString("")`, c.SetString(ctx, "", "v", 0), "set", empty)
	refused(`Delete("")`, c.Delete(ctx, ""), "delete", empty)
	refused(`Fetch("")`, errOf(c.Fetch(ctx, "", time.Minute, load)), "fetch", empty)
	refused(`Incr("")`, errOf(c.Incr(ctx, "", 1, time.Minute)), "incr", empty)
	refused(`Lock("")`, errOf(c.Lock(ctx, "", "o", time.Minute)), "lock", empty)
	refused(`GetJSON("")`, errOf3(cachex.GetJSON[int](ctx, c, "")), "get", empty)
	refused(`SetJSON("")`, cachex.SetJSON(ctx, c, "", 1, time.Minute), "set", empty)
	refused(`FetchJSON("")`, errOf(cachex.FetchJSON(ctx, c, "", time.Minute, func(context.Context) (int, error) { return 1, nil })), "fetch", empty)
	const short = "ttl 5ns is under a millisecond"
	refused(`Set("k", 5)`, c.Set(ctx, "k", []byte("v"), 5), `set "k"`, short)
	refused(`SetString("k", 5)`, c.SetString(ctx, "k", "v", 5), `set "k"`, short)
	refused(`Fetch("k", 5)`, errOf(c.Fetch(ctx, "k", 5, load)), `fetch "k"`, short)
	refused(`Incr("n", 5)`, errOf(c.Incr(ctx, "n", 1, 5)), `incr "n"`, short)
	refused(`Lock("l", 5)`, errOf(c.Lock(ctx, "l", "o", 5)), `lock "l"`, short)
	refused(`Lock("l", MaxInt64)`, errOf(c.Lock(ctx, "l", "o", time.Duration(math.MaxInt64))), `lock "l"`, "is over a year")
	refused(`SetJSON("k", 5)`, cachex.SetJSON(ctx, c, "k", 1, 5), `set "k"`, short)
	// A negative ttl (a deadline already past, computed as time.Until) was
	// taken as "no expiry": the value meant to be gone was kept for ever.
	const negative = "ttl -1s is negative"
	refused(`Set("k", -1s)`, c.Set(ctx, "k", []byte("v"), -time.Second), `set "k"`, negative)
	refused(`SetString("k", -1s)`, c.SetString(ctx, "k", "v", -time.Second), `set "k"`, negative)
	refused(`Fetch("k", -1s)`, errOf(c.Fetch(ctx, "k", -time.Second, load)), `fetch "k"`, negative)
	refused(`Incr("n", -1s)`, errOf(c.Incr(ctx, "n", 1, -time.Second)), `incr "n"`, negative)
	refused(`SetJSON("k", -1s)`, cachex.SetJSON(ctx, c, "k", 1, -time.Second), `set "k"`, negative)
	// Nothing was written: no value, a fresh counter, a free lock.
	if _, ok, err := c.Get(ctx, "k"); err != nil || ok {
		t.Errorf("Get(k) after the refused writes = ok %v, err %v; want a miss", ok, err)
	}
	if n, err := c.Incr(ctx, "n", 1, time.Millisecond); err != nil || n != 1 {
		t.Errorf("Incr(n, 1ms) after the refused one = %d, %v; want 1", n, err)
	}
	l, err := c.Lock(ctx, "l", "o", time.Millisecond)
	if err != nil {
		t.Fatalf("Lock(l, 1ms) after the refused one: %v", err)
	}
	_ = l.Release(ctx)
	if r, ok := c.(interface{ Fallbacks() uint64 }); ok && r.Fallbacks() != 0 {
		t.Errorf("refused arguments made the cache fail open %d times", r.Fallbacks())
	}
}

// testCancelledContextRefused: a call whose context is already done is
// refused with the context's error, and nothing is read or written, on
// every store alike (Redis never sends it; a store that does not wait must
// not answer it either, or a Resilient failing open would answer what it
// refuses with Redis up).
func testCancelledContextRefused(t *testing.T, c cachex.Cache) {
	bg := context.Background()
	held, err := c.Lock(bg, "held", "o", time.Minute)
	if err != nil {
		t.Fatalf("Lock(held): %v", err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	// The error names the call and its key, as a refused argument's does.
	refused := func(call, names string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), names) {
			t.Errorf("%s with a cancelled ctx = %v; want context.Canceled, naming %s", call, err, names)
		}
	}
	errOf := func(_ any, err error) error { return err }
	errOf3 := func(_ any, _ bool, err error) error { return err }
	loaded := false
	refused("Get", `get "k"`, errOf3(c.Get(ctx, "k")))
	refused("GetString", `get "k"`, errOf3(c.GetString(ctx, "k")))
	refused("Set", `set "k"`, c.Set(ctx, "k", []byte("v"), time.Minute))
	refused("SetString", `set "k"`, c.SetString(ctx, "k", "v", 0))
	refused("Delete", `delete "k"`, c.Delete(ctx, "k"))
	refused("Fetch", `"k"`, errOf(c.Fetch(ctx, "k", time.Minute, func(context.Context) ([]byte, error) { loaded = true; return []byte("v"), nil })))
	refused("Incr", `incr "n"`, errOf(c.Incr(ctx, "n", 5, time.Minute)))
	refused("Lock", `lock "l"`, errOf(c.Lock(ctx, "l", "o", time.Minute)))
	refused("Release", `"held"`, held.Release(ctx))
	// Nothing was read or written: no load, no value, a fresh counter, a
	// free lock, and the held one still held.
	if loaded {
		t.Error("Fetch with a cancelled ctx called load")
	}
	if _, ok, err := c.Get(bg, "k"); err != nil || ok {
		t.Errorf("Get(k) after the refused writes = ok %v, err %v; want a miss", ok, err)
	}
	if n, err := c.Incr(bg, "n", 1, time.Minute); err != nil || n != 1 {
		t.Errorf("Incr(n) after the refused one = %d, %v; want 1", n, err)
	}
	l, err := c.Lock(bg, "l", "o", time.Minute)
	if err != nil {
		t.Fatalf("Lock(l) after the refused one: %v", err)
	}
	_ = l.Release(bg)
	if _, err := c.Lock(bg, "held", "p", time.Minute); !errors.Is(err, cachex.ErrLockHeld) {
		t.Errorf("Lock(held) after the refused Release = %v; want ErrLockHeld", err)
	}
	if err := held.Release(bg); err != nil {
		t.Errorf("Release(held): %v", err)
	}
}

// waitLock polls until owner gets the lock, which happens once the current
// holder's ttl has run out.
func waitLock(t *testing.T, c cachex.Cache, key, owner string, ttl time.Duration) *cachex.Lock {
	t.Helper()
	var l *cachex.Lock
	Eventually(t, owner+" takes the expired lock", func() bool {
		var err error
		l, err = c.Lock(context.Background(), key, owner, ttl)
		if err != nil && !errors.Is(err, cachex.ErrLockHeld) {
			t.Fatalf("Lock: %v", err)
		}
		return err == nil
	})
	return l
}

func testLockExpires(t *testing.T, c cachex.Cache) {
	start := time.Now()
	if _, err := c.Lock(context.Background(), "l", "owner-a", ShortTTL); err != nil {
		t.Fatalf("Lock by a: %v", err)
	}
	waitLock(t, c, "l", "owner-b", time.Minute)
	if elapsed := time.Since(start); elapsed < ShortTTL {
		t.Fatalf("lock taken over after %v, before its ttl %v", elapsed, ShortTTL)
	}
}

func testStaleRelease(t *testing.T, c cachex.Cache) {
	ctx := context.Background()
	stale, err := c.Lock(ctx, "l", "owner-a", ShortTTL)
	if err != nil {
		t.Fatalf("Lock by a: %v", err)
	}
	current := waitLock(t, c, "l", "owner-b", time.Minute)
	if err := stale.Release(ctx); !errors.Is(err, cachex.ErrNotHeld) {
		t.Fatalf("stale Release = %v; want ErrNotHeld", err)
	}
	if _, err := c.Lock(ctx, "l", "owner-c", time.Minute); !errors.Is(err, cachex.ErrLockHeld) {
		t.Fatalf("Lock by c after the stale release = %v; want ErrLockHeld (b still holds it)", err)
	}
	if current.Fence() <= stale.Fence() {
		t.Fatalf("new owner's fence %d not above the stale owner's %d", current.Fence(), stale.Fence())
	}
	if err := current.Release(ctx); err != nil {
		t.Fatalf("Release by b: %v", err)
	}
}

func testFencesIncrease(t *testing.T, c cachex.Cache) {
	ctx := context.Background()
	var last int64
	for i := range 20 {
		key := []string{"f1", "f2"}[i%2]
		l, err := c.Lock(ctx, key, "owner", time.Minute)
		if err != nil {
			t.Fatalf("Lock #%d: %v", i, err)
		}
		if l.Fence() <= last {
			t.Fatalf("fence #%d = %d, not above %d", i, l.Fence(), last)
		}
		last = l.Fence()
		if err := l.Release(ctx); err != nil {
			t.Fatalf("Release #%d: %v", i, err)
		}
	}
}

func testClosed(t *testing.T, c cachex.Cache) {
	ctx := context.Background()
	l, err := c.Lock(ctx, "l", "owner", time.Minute)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The error names the call and its key.
	check := func(op, names string, err error) {
		t.Helper()
		if !errors.Is(err, cachex.ErrClosed) || !strings.Contains(err.Error(), names) {
			t.Errorf("%s after Close = %v; want ErrClosed, naming %s", op, err, names)
		}
	}
	_, _, err = c.Get(ctx, "k")
	check("Get", `get "k"`, err)
	_, _, err = c.GetString(ctx, "k")
	check("GetString", `get "k"`, err)
	check("Set", `set "k"`, c.Set(ctx, "k", []byte("v"), 0))
	check("SetString", `set "k"`, c.SetString(ctx, "k", "v", 0))
	check("Delete", `delete "k"`, c.Delete(ctx, "k"))
	_, err = c.Fetch(ctx, "k", 0, func(context.Context) ([]byte, error) { return []byte("v"), nil })
	check("Fetch", `"k"`, err)
	_, err = c.Incr(ctx, "n", 1, 0)
	check("Incr", `incr "n"`, err)
	_, err = c.Lock(ctx, "l2", "owner", time.Minute)
	check("Lock", `lock "l2"`, err)
	check("Release", `"l"`, l.Release(ctx))
}
