package cachex

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Known feature toggles. Each is off unless switched on: off is the
// behaviour the engine had before the feature existed.
const (
	// ToggleDynamicConcurrency lets the engine move its concurrency limit
	// between ExecutionConfig.MinConcurrency and MaxConcurrency with the
	// database pool's pressure and how its handlers spend their time
	// (waiting or computing); see engine.ExecutionConfig. Dependent
	// systems' latency and errors do not move it (their breakers hold
	// their steps back instead).
	ToggleDynamicConcurrency = "dynamic_concurrency"
	// ToggleAdaptiveTTL lets the engine take cache TTLs from AdaptiveTTL
	// instead of fixed ones.
	ToggleAdaptiveTTL = "adaptive_ttl"
	// TogglePredictiveRetry scales every step's retry delay by the
	// predictive retry's factors (engine: Template.PredictiveRetry turns
	// it on for one workflow).
	TogglePredictiveRetry = "predictive_retry"
)

// toggleKey is the cache key of a toggle, under PrefixCache.
const toggleKey = "toggle:"

var defaultToggles = map[string]bool{
	ToggleDynamicConcurrency: false,
	ToggleAdaptiveTTL:        false,
	TogglePredictiveRetry:    false,
}

// Toggles are feature switches stored through the cache: on Redis one Set
// switches every instance; on a local store, this process only. Whatever the
// cache cannot answer (a miss, an error, an entry evicted from a full local
// store) reads as the toggle's default, so a toggle is never more on than
// its default unless someone set it.
type Toggles struct {
	cache    Cache
	defaults map[string]bool
}

// NewToggles creates toggles over c. extra adds names (or changes defaults)
// beyond the known ones; an empty (or blank) name in it is refused, and so
// is one with spaces around it.
func NewToggles(c Cache, extra map[string]bool) (*Toggles, error) {
	if c == nil {
		return nil, fmt.Errorf("toggles: cache is required")
	}
	for _, name := range slices.Sorted(maps.Keys(extra)) { // (sorted: the same error every time)
		trimmed := strings.TrimSpace(name)
		switch {
		case trimmed == "":
			return nil, fmt.Errorf("toggles: extra[%q]: the toggle name is empty", name)
		case trimmed != name:
			// A toggle of its own: the name meant would be unknown.
			return nil, fmt.Errorf("toggles: extra[%q]: the toggle name has spaces around it: write %q", name, trimmed)
		}
	}
	defaults := make(map[string]bool, len(defaultToggles)+len(extra))
	for name, on := range defaultToggles {
		defaults[name] = on
	}
	for name, on := range extra {
		defaults[name] = on
	}
	return &Toggles{cache: c, defaults: defaults}, nil
}

// Known returns nil for a toggle these toggles know, and otherwise an
// error naming the known ones.
func (t *Toggles) Known(name string) error {
	if _, ok := t.defaults[name]; ok {
		return nil
	}
	return fmt.Errorf("unknown toggle %q (known: %s)", name, strings.Join(slices.Sorted(maps.Keys(t.defaults)), ", "))
}

// Enabled reports whether the toggle is on: the stored value, else its
// default. Unknown names are off (Known tells them).
func (t *Toggles) Enabled(ctx context.Context, name string) bool {
	def, known := t.defaults[name]
	if !known {
		return false
	}
	v, ok, err := t.cache.GetString(ctx, toggleKey+name)
	if err != nil || !ok {
		return def
	}
	switch v {
	case "1":
		return true
	case "0":
		return false
	}
	return def
}

// Set stores the toggle's value, without expiry.
func (t *Toggles) Set(ctx context.Context, name string, on bool) error {
	if err := t.Known(name); err != nil {
		return fmt.Errorf("set toggle: %w", err)
	}
	v := "0"
	if on {
		v = "1"
	}
	if err := t.cache.SetString(ctx, toggleKey+name, v, 0); err != nil {
		return fmt.Errorf("set toggle %q: %w", name, err)
	}
	return nil
}

// Unset removes the stored value: the toggle reads as its default again.
func (t *Toggles) Unset(ctx context.Context, name string) error {
	if err := t.Known(name); err != nil {
		return fmt.Errorf("unset toggle: %w", err)
	}
	if err := t.cache.Delete(ctx, toggleKey+name); err != nil {
		return fmt.Errorf("unset toggle %q: %w", name, err)
	}
	return nil
}
