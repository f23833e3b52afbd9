package cachex_test

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
)

// fakeClock is moved by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newAdaptive(t *testing.T, clock cachex.Clock) *cachex.AdaptiveTTL {
	t.Helper()
	a, err := cachex.NewAdaptiveTTL(cachex.AdaptiveTTLConfig{Min: time.Second, Max: 10 * time.Minute}, clock)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAdaptiveTTLRisesForHotStableKeys(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newAdaptive(t, clock)
	if got := a.TTL("defs"); got != time.Second {
		t.Fatalf("TTL of an unknown family = %v; want Min", got)
	}
	prev := time.Duration(0)
	for round := range 10 {
		// Ten reads a second, all hits.
		for range 20 {
			clock.Advance(100 * time.Millisecond)
			a.Observe("defs", true)
		}
		got := a.TTL("defs")
		if got < prev {
			t.Fatalf("round %d: TTL fell from %v to %v for a hot, stable family", round, prev, got)
		}
		prev = got
	}
	if prev < 8*time.Minute {
		t.Fatalf("TTL of a hot, stable family = %v; want close to Max (10m)", prev)
	}
}

func TestAdaptiveTTLFallsForChurningKeys(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newAdaptive(t, clock)
	for range 200 {
		clock.Advance(100 * time.Millisecond)
		a.Observe("results", true)
	}
	hot := a.TTL("results")
	// The family starts churning: same read rate, but most reads miss.
	// Its TTL drops within a round and then settles low (the smoothed hit
	// rate wobbles around 0.2, so later rounds are not compared strictly).
	var ttls []time.Duration
	for range 5 {
		for i := range 20 {
			clock.Advance(100 * time.Millisecond)
			a.Observe("results", i%5 == 0)
		}
		ttls = append(ttls, a.TTL("results"))
	}
	if ttls[0] >= hot || ttls[1] >= ttls[0] {
		t.Fatalf("TTLs while churning = %v after %v stable; want them falling", ttls, hot)
	}
	for round, got := range ttls[2:] {
		if got > hot/3 {
			t.Fatalf("round %d: TTL while churning = %v; want well below the stable %v", round+2, got, hot)
		}
	}
}

func TestAdaptiveTTLFallsWhenFamilyGoesCold(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newAdaptive(t, clock)
	for range 200 {
		clock.Advance(100 * time.Millisecond)
		a.Observe("cold", true)
	}
	hot := a.TTL("cold")
	clock.Advance(2 * time.Minute) // nobody reads it any more
	if cold := a.TTL("cold"); cold > hot/10 || cold < time.Second {
		t.Fatalf("TTL after 2 idle minutes = %v (was %v); want near Min", cold, hot)
	}
}

func TestAdaptiveTTLConfigValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	err := cachex.AdaptiveTTLConfig{
		Min: time.Hour, Max: time.Minute, Smoothing: 1.5, Decay: -0.1,
		DecayInterval: -time.Second, HotFrequency: -1, MaxFamilies: -1,
	}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken config")
	}
	for _, want := range []string{"min 1h0m0s is above max 1m0s", "smoothing", "decay must", "decay_interval", "hot_frequency", "max_families"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %q; missing %q", err, want)
		}
	}
	if err := (cachex.AdaptiveTTLConfig{}).Validate(); err != nil {
		t.Fatalf("zero config (all defaults) = %v", err)
	}
	if _, err := cachex.NewAdaptiveTTL(cachex.AdaptiveTTLConfig{Smoothing: 2}, nil); err == nil {
		t.Fatal("NewAdaptiveTTL accepted smoothing 2")
	}
}

// Min above Max where one of them is the default says which is: "min 20m
// is above max 10m" named a max nobody wrote.
func TestAdaptiveTTLConfigNamesTheDefaultItClashesWith(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  cachex.AdaptiveTTLConfig
		want string
	}{
		{cachex.AdaptiveTTLConfig{Min: 20 * time.Minute}, "min 20m0s is above the default max 10m0s: set max too"},
		{cachex.AdaptiveTTLConfig{Max: 500 * time.Millisecond}, "the default min 1s is above max 500ms: set min too"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v.Validate = %v; want %q", c.cfg, err, c.want)
		}
	}
}

// A NaN rate was accepted: every comparison with it is false, so the
// range checks let it through. ErrorRate NaN never opened the breaker
// (error_rate off, with window and min_requests accepted beside it), and
// Smoothing or Decay NaN made every TTL NaN. The constructors refuse it,
// naming the field.
func TestConfigsRefuseNaN(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	if _, err := cachex.NewSystemGate(newLocal(t, cachex.LocalConfig{}), cachex.BreakerConfig{ErrorRate: nan, Window: time.Minute}, nil); err == nil || !strings.Contains(err.Error(), "error_rate must be in [0, 1], got NaN") {
		t.Errorf("NewSystemGate(ErrorRate NaN): %v", err)
	}
	for _, c := range []struct {
		cfg  cachex.AdaptiveTTLConfig
		want string
	}{
		{cachex.AdaptiveTTLConfig{Smoothing: nan}, "smoothing must be in (0, 1), got NaN"},
		{cachex.AdaptiveTTLConfig{Decay: nan}, "decay must be in (0, 1), got NaN"},
	} {
		if _, err := cachex.NewAdaptiveTTL(c.cfg, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewAdaptiveTTL(%+v): %v, want it to say %q", c.cfg, err, c.want)
		}
	}
}
