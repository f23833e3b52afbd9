// Package valcache reads the engine's derived values (the predictive
// retry's history, the performance report) through the engine's cache
// (cachex) and counts its hits. Each value belongs to a family; a family
// has a fixed TTL and a ceiling, and when the adaptive_ttl toggle is on the
// TTL comes from a cachex.AdaptiveTTL instead (long for families read often
// whose reads hit, short for the rest), bounded by the ceiling.
package valcache

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/tasker-go/tasker/cachex"
)

// Family is a kind of value and its TTLs.
type Family struct {
	Name  string
	Fixed time.Duration // the TTL with the adaptive TTL off
	Max   time.Duration // the most an adaptive TTL may be
}

// Cache counts reads per family and chooses TTLs.
type Cache struct {
	adaptive *cachex.AdaptiveTTL
	families map[string]Family

	mu    sync.Mutex
	stats map[string]*counts
}

type counts struct{ hits, misses int64 }

// New returns a cache of the families; ttl supplies adaptive TTLs.
func New(ttl *cachex.AdaptiveTTL, families ...Family) *Cache {
	c := &Cache{adaptive: ttl, families: map[string]Family{}, stats: map[string]*counts{}}
	for _, f := range families {
		c.families[f.Name] = f
		c.stats[f.Name] = &counts{}
	}
	return c
}

// TTL is the TTL a value of the family gets now.
func (c *Cache) TTL(family string, adaptive bool) time.Duration {
	f := c.families[family]
	if !adaptive || c.adaptive == nil {
		return f.Fixed
	}
	return min(c.adaptive.TTL(family), f.Max)
}

// Fetch returns the value under key, or loads and stores it. hit says
// whether it came from the cache. With no cache (nil: the engine could not
// make one) it loads every time and counts nothing. A cache error counts
// as a miss: the value is loaded, and stored if the cache lets it.
func (c *Cache) Fetch(ctx context.Context, store cachex.Cache, adaptive bool, family, key string, load func(context.Context) ([]byte, error)) (v []byte, hit bool, err error) {
	if store == nil {
		v, err = load(ctx)
		return v, false, err
	}
	full := "v:" + family + ":" + key
	if v, ok, gerr := store.Get(ctx, full); gerr == nil && ok {
		c.count(family, true)
		return v, true, nil
	}
	c.count(family, false)
	if v, err = load(ctx); err != nil {
		return nil, false, err
	}
	if ttl := c.TTL(family, adaptive); ttl > 0 {
		_ = store.Set(ctx, full, v, ttl) // a value not kept is loaded again
	}
	return v, false, nil
}

func (c *Cache) count(family string, hit bool) {
	if c.adaptive != nil {
		c.adaptive.Observe(family, hit)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats[family]
	if s == nil {
		s = &counts{}
		c.stats[family] = s
	}
	if hit {
		s.hits++
	} else {
		s.misses++
	}
}

// FamilyStats are one family's reads since the engine started.
type FamilyStats struct {
	Family       string
	Hits, Misses int64
	// HitRate is Hits/(Hits+Misses), 0 before any read.
	HitRate float64
}

// Stats lists every family's reads, by name.
func (c *Cache) Stats() []FamilyStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]FamilyStats, 0, len(c.stats))
	for name, s := range c.stats {
		fs := FamilyStats{Family: name, Hits: s.hits, Misses: s.misses}
		if n := s.hits + s.misses; n > 0 {
			fs.HitRate = float64(s.hits) / float64(n)
		}
		out = append(out, fs)
	}
	slices.SortFunc(out, func(a, b FamilyStats) int {
		if a.Family < b.Family {
			return -1
		}
		return 1
	})
	return out
}
