package cachex

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// AdaptiveTTLConfig tunes the adaptive TTL manager. Zero fields take the
// defaults shown. A duration is 0 (its default) or at least a millisecond:
// a bare number is nanoseconds (Min: 1 is 1 ns, not 1 s), so a shorter one
// is refused.
type AdaptiveTTLConfig struct {
	// Min and Max bound the TTL handed out. Defaults 1s and 10m.
	Min time.Duration `yaml:"min"`
	Max time.Duration `yaml:"max"`
	// Smoothing is the weight of the past in the exponentially smoothed hit
	// rate: rate = Smoothing*rate + (1-Smoothing)*observation. Default 0.9.
	Smoothing float64 `yaml:"smoothing"`
	// Decay is the share of the access frequency kept after each
	// DecayInterval. Default 0.95.
	Decay float64 `yaml:"decay"`
	// DecayInterval is the time unit of Decay. Default 1s.
	DecayInterval time.Duration `yaml:"decay_interval"`
	// HotFrequency is the decayed access count at which a family counts as
	// half-way hot. Default 10 (about one access per 2s with the defaults).
	HotFrequency float64 `yaml:"hot_frequency"`
	// MaxFamilies bounds the families tracked; others get Min. Default 1024.
	MaxFamilies int `yaml:"max_families"`
}

func (c AdaptiveTTLConfig) withDefaults() AdaptiveTTLConfig {
	c.Min = orDefault(c.Min, time.Second)
	c.Max = orDefault(c.Max, 10*time.Minute)
	if c.Smoothing == 0 {
		c.Smoothing = 0.9
	}
	if c.Decay == 0 {
		c.Decay = 0.95
	}
	c.DecayInterval = orDefault(c.DecayInterval, time.Second)
	if c.HotFrequency == 0 {
		c.HotFrequency = 10
	}
	if c.MaxFamilies == 0 {
		c.MaxFamilies = 1024
	}
	return c
}

// Validate reports every problem of the configuration at once.
func (c AdaptiveTTLConfig) Validate() error {
	var errs []error
	errs = validDuration(errs, "min", c.Min)
	errs = validDuration(errs, "max", c.Max)
	errs = validDuration(errs, "decay_interval", c.DecayInterval)
	if d := c.withDefaults(); c.Min >= 0 && c.Max >= 0 && d.Min > d.Max {
		switch {
		case c.Max == 0:
			errs = append(errs, fmt.Errorf("min %v is above the default max %v: set max too", d.Min, d.Max))
		case c.Min == 0:
			errs = append(errs, fmt.Errorf("the default min %v is above max %v: set min too", d.Min, d.Max))
		default:
			errs = append(errs, fmt.Errorf("min %v is above max %v", d.Min, d.Max))
		}
	}
	if c.Smoothing < 0 || c.Smoothing >= 1 || math.IsNaN(c.Smoothing) {
		errs = append(errs, fmt.Errorf("smoothing must be in (0, 1), got %v", c.Smoothing))
	}
	if c.Decay < 0 || c.Decay >= 1 || math.IsNaN(c.Decay) {
		errs = append(errs, fmt.Errorf("decay must be in (0, 1), got %v", c.Decay))
	}
	if c.HotFrequency < 0 || math.IsNaN(c.HotFrequency) || math.IsInf(c.HotFrequency, 0) {
		errs = append(errs, fmt.Errorf("hot_frequency must be a positive number, got %v", c.HotFrequency))
	}
	if c.MaxFamilies < 0 {
		errs = append(errs, fmt.Errorf("max_families must not be negative, got %d", c.MaxFamilies))
	}
	return errors.Join(errs...)
}

// AdaptiveTTL chooses TTLs per key family (e.g. "workflow_def",
// "step_result") from how that family is used: a family read often whose
// reads hit (hot and stable) earns a TTL towards Max; one whose reads miss
// (churning: invalidated or changed before it is read again) or that is
// rarely read falls towards Min.
//
// TTL = Min + (Max-Min) * hitRate * freq/(freq+HotFrequency)
type AdaptiveTTL struct {
	cfg      AdaptiveTTLConfig
	clock    Clock
	mu       sync.Mutex
	families map[string]*familyStats
}

type familyStats struct {
	hitRate float64
	freq    float64
	last    time.Time
}

// NewAdaptiveTTL creates a manager; a nil clock is the system clock.
func NewAdaptiveTTL(cfg AdaptiveTTLConfig, clock Clock) (*AdaptiveTTL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("adaptive ttl config: %w", err)
	}
	if clock == nil {
		clock = wallClock{}
	}
	return &AdaptiveTTL{cfg: cfg.withDefaults(), clock: clock, families: make(map[string]*familyStats)}, nil
}

// decayed returns the frequency decayed from f.last to now.
func (a *AdaptiveTTL) decayed(f *familyStats, now time.Time) float64 {
	elapsed := now.Sub(f.last)
	if elapsed <= 0 {
		return f.freq
	}
	return f.freq * math.Pow(a.cfg.Decay, float64(elapsed)/float64(a.cfg.DecayInterval))
}

// Observe records one read of the family, and whether it hit.
func (a *AdaptiveTTL) Observe(family string, hit bool) {
	now := a.clock.Now()
	obs := 0.0
	if hit {
		obs = 1
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f, ok := a.families[family]
	if !ok {
		if len(a.families) >= a.cfg.MaxFamilies {
			return
		}
		a.families[family] = &familyStats{hitRate: obs, freq: 1, last: now}
		return
	}
	f.hitRate = a.cfg.Smoothing*f.hitRate + (1-a.cfg.Smoothing)*obs
	f.freq = a.decayed(f, now) + 1
	f.last = now
}

// TTL returns the TTL to use now for a value of the family; Min for a
// family never observed.
func (a *AdaptiveTTL) TTL(family string) time.Duration {
	now := a.clock.Now()
	a.mu.Lock()
	f, ok := a.families[family]
	var rate, freq float64
	if ok {
		rate, freq = f.hitRate, a.decayed(f, now)
	}
	a.mu.Unlock()
	if !ok {
		return a.cfg.Min
	}
	score := rate * freq / (freq + a.cfg.HotFrequency)
	return a.cfg.Min + time.Duration(score*float64(a.cfg.Max-a.cfg.Min))
}
