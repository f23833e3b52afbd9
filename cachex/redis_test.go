package cachex_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/cachex/cachextest"
)

func TestRedisConformance(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	cachextest.Exercise(t, func(t *testing.T) cachex.Cache {
		return newRedis(t, url, namespace(t, url))
	})
}

func TestResilientConformance(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	cachextest.Exercise(t, func(t *testing.T) cachex.Cache {
		c, err := cachex.New(cachex.Config{
			Distributed: url,
			Redis:       cachex.RedisConfig{Namespace: namespace(t, url)},
		}, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		if !c.(*cachex.Resilient).Healthy() {
			t.Fatal("Resilient over a live Redis starts failing open")
		}
		return c
	})
}

// Two stores on two clients are two instances: what one writes, locks or
// counts, the other sees.
func TestRedisSharedBetweenInstances(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	ns := namespace(t, url)
	a, b := newRedis(t, url, ns), newRedis(t, url, ns)
	ctx := context.Background()
	if err := a.SetString(ctx, "k", "from-a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := b.GetString(ctx, "k"); err != nil || !ok || v != "from-a" {
		t.Fatalf("b.GetString = %q, %v, %v; want from-a", v, ok, err)
	}
	la, err := a.Lock(ctx, "l", "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, "l", "b", time.Minute); !errors.Is(err, cachex.ErrLockHeld) {
		t.Fatalf("b.Lock while a holds it = %v; want ErrLockHeld", err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lb, err := b.Lock(ctx, "l", "b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if lb.Fence() <= la.Fence() {
		t.Fatalf("fence across instances went %d -> %d", la.Fence(), lb.Fence())
	}
	if _, err := a.Incr(ctx, "n", 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Incr(ctx, "n", 3, time.Minute); err != nil || v != 5 {
		t.Fatalf("b.Incr = %d, %v; want 5", v, err)
	}
	if a.Capabilities() != (cachex.Capabilities{Distributed: true, AtomicIncrement: true, Locking: true}) {
		t.Fatalf("Redis capabilities = %+v", a.Capabilities())
	}
}

func TestRedisUsesNamespaceAndPrefixes(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	ns := namespace(t, url)
	r := newRedis(t, url, ns)
	ctx := context.Background()
	if err := r.SetString(ctx, "k", "v", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Incr(ctx, "k", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lock(ctx, "k", "o", time.Minute); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, url)
	for _, key := range []string{ns + cachex.PrefixCache + "k", ns + cachex.PrefixCounter + "k", ns + cachex.PrefixLock + "k", ns + cachex.KeyFence} {
		if n, err := raw.Exists(ctx, key).Result(); err != nil || n != 1 {
			t.Errorf("key %q exists = %d, %v; want 1", key, n, err)
		}
	}
	// A counter and a value with the same name do not collide.
	if v, ok, err := r.GetString(ctx, "k"); err != nil || !ok || v != "v" {
		t.Fatalf("GetString = %q, %v, %v; want v", v, ok, err)
	}
}
