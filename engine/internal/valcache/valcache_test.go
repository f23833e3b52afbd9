package valcache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/cachex"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

func newLocal(t *testing.T) cachex.Cache {
	t.Helper()
	c, err := cachex.NewLocal(cachex.LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestFetchCountsAndStores(t *testing.T) {
	ctx := context.Background()
	store := newLocal(t)
	c := New(nil, Family{Name: "h", Fixed: time.Minute, Max: time.Hour})
	loads := 0
	load := func(context.Context) ([]byte, error) { loads++; return []byte("v"), nil }
	for i := range 3 {
		v, hit, err := c.Fetch(ctx, store, false, "h", "k", load)
		if err != nil || string(v) != "v" || hit != (i > 0) {
			t.Fatalf("read %d: %q hit=%v err=%v", i, v, hit, err)
		}
	}
	if loads != 1 {
		t.Fatalf("loaded %d times, want 1", loads)
	}
	st := c.Stats()
	if len(st) != 1 || st[0].Hits != 2 || st[0].Misses != 1 || st[0].HitRate != 2.0/3 {
		t.Fatalf("stats %+v", st)
	}
	// A load error is returned and nothing is cached.
	boom := errors.New("boom")
	if _, _, err := c.Fetch(ctx, store, false, "h", "other", func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if _, ok, _ := store.Get(ctx, "v:h:other"); ok {
		t.Fatal("a failed load was cached")
	}
	// No cache: every read loads.
	if _, hit, _ := c.Fetch(ctx, nil, false, "h", "k", load); hit || loads != 2 {
		t.Fatalf("without a cache: hit=%v loads=%d", hit, loads)
	}
}

func TestAdaptiveTTL(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	a, err := cachex.NewAdaptiveTTL(cachex.AdaptiveTTLConfig{Min: time.Second, Max: 10 * time.Minute}, clk)
	if err != nil {
		t.Fatal(err)
	}
	c := New(a, Family{Name: "h", Fixed: 30 * time.Second, Max: 2 * time.Minute})
	if got := c.TTL("h", false); got != 30*time.Second {
		t.Fatalf("fixed TTL %v", got)
	}
	if got := c.TTL("h", true); got != time.Second {
		t.Fatalf("a family never read gets Min, got %v", got)
	}
	for range 200 {
		c.count("h", true)
	}
	if got := c.TTL("h", true); got != 2*time.Minute {
		t.Fatalf("a hot family that hits is capped at its Max, got %v", got)
	}
	for range 50 {
		c.count("h", false)
	}
	if got := c.TTL("h", true); got >= time.Minute {
		t.Fatalf("a family whose reads miss falls, got %v", got)
	}
}
