package cachex_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/cachex"
)

func newToggles(t *testing.T, c cachex.Cache, extra map[string]bool) *cachex.Toggles {
	t.Helper()
	tg, err := cachex.NewToggles(c, extra)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestTogglesDefaultsAndSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tg := newToggles(t, newLocal(t, cachex.LocalConfig{}), map[string]bool{"beta_ui": true})
	if tg.Enabled(ctx, cachex.ToggleDynamicConcurrency) || tg.Enabled(ctx, cachex.ToggleAdaptiveTTL) {
		t.Fatal("known toggles must default to off")
	}
	if !tg.Enabled(ctx, "beta_ui") {
		t.Fatal("extra default not applied")
	}
	if tg.Enabled(ctx, "no_such_toggle") {
		t.Fatal("unknown toggle reads as on")
	}
	if err := tg.Set(ctx, "no_such_toggle", true); err == nil || !strings.Contains(err.Error(), `"no_such_toggle"`) || !strings.Contains(err.Error(), "adaptive_ttl, beta_ui") {
		t.Fatalf("Set of an unknown toggle: %v; want an error naming it and the known ones", err)
	}
	if err := tg.Unset(ctx, "no_such_toggle"); err == nil || !strings.Contains(err.Error(), `"no_such_toggle"`) {
		t.Fatalf("Unset of an unknown toggle: %v; want an error naming it", err)
	}
	if err := tg.Set(ctx, cachex.ToggleAdaptiveTTL, true); err != nil {
		t.Fatal(err)
	}
	if !tg.Enabled(ctx, cachex.ToggleAdaptiveTTL) {
		t.Fatal("Set(true) not seen")
	}
	if err := tg.Set(ctx, "beta_ui", false); err != nil {
		t.Fatal(err)
	}
	if tg.Enabled(ctx, "beta_ui") {
		t.Fatal("Set(false) not seen")
	}
	if err := tg.Unset(ctx, "beta_ui"); err != nil {
		t.Fatal(err)
	}
	if !tg.Enabled(ctx, "beta_ui") {
		t.Fatal("Unset did not restore the default")
	}
}

func TestTogglesFallBackToDefaultOnCacheError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLocal(t, cachex.LocalConfig{})
	tg := newToggles(t, l, nil)
	if err := tg.Set(ctx, cachex.ToggleDynamicConcurrency, true); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if tg.Enabled(ctx, cachex.ToggleDynamicConcurrency) {
		t.Fatal("a failing cache must read as the default (off)")
	}
	if err := tg.Set(ctx, cachex.ToggleDynamicConcurrency, true); !errors.Is(err, cachex.ErrClosed) {
		t.Fatalf("Set on a closed cache = %v; want ErrClosed", err)
	}
}

func TestTogglesSharedThroughRedis(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	ns := namespace(t, url)
	ctx := context.Background()
	a := newToggles(t, newRedis(t, url, ns), nil)
	b := newToggles(t, newRedis(t, url, ns), nil)
	if err := a.Set(ctx, cachex.ToggleDynamicConcurrency, true); err != nil {
		t.Fatal(err)
	}
	if !b.Enabled(ctx, cachex.ToggleDynamicConcurrency) {
		t.Fatal("toggle set on one instance not seen by the other")
	}
}

// TestNewTogglesRefusesAnEmptyName: an empty (or blank) name in extra is
// refused, naming it; NewToggles accepted it, a toggle nobody could mean.
func TestNewTogglesRefusesAnEmptyName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", " "} {
		_, err := cachex.NewToggles(newLocal(t, cachex.LocalConfig{}), map[string]bool{"beta_ui": true, name: true})
		if want := `toggles: extra[` + strconv.Quote(name) + `]: the toggle name is empty`; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("NewToggles with %q: %v; want an error saying %s", name, err, want)
		}
	}
}

// TestNewTogglesRefusesAPaddedName: a name in extra with spaces around it
// was taken as it was, a toggle of its own: Enabled("beta_ui") read false
// (unknown) and Set("beta_ui") was refused, the toggle meant never
// reached.
func TestNewTogglesRefusesAPaddedName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{" beta_ui", "beta_ui\n"} {
		_, err := cachex.NewToggles(newLocal(t, cachex.LocalConfig{}), map[string]bool{name: true})
		if want := `toggles: extra[` + strconv.Quote(name) + `]: the toggle name has spaces around it: write "beta_ui"`; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("NewToggles with %q: %v; want an error saying %s", name, err, want)
		}
	}
}
