package cachex_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
)

func TestDetectModeOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLocal(t, cachex.LocalConfig{})

	d := cachex.DetectMode(ctx, l, cachex.Config{})
	if d.Mode != cachex.ModeLocalOnly || d.Source != cachex.SourceBuiltin {
		t.Fatalf("local store: %+v; want local_only from builtin", d)
	}
	declared := cachex.Capabilities{Distributed: true}
	d = cachex.DetectMode(ctx, l, cachex.Config{Capabilities: &declared})
	if d.Mode != cachex.ModeDistributedBasic || d.Source != cachex.SourceDeclared {
		t.Fatalf("declared capabilities: %+v; want distributed_basic from declared", d)
	}

	// A store of the user's own: probed at run time...
	custom := &selfReported{Cache: newLocal(t, cachex.LocalConfig{}), distributed: true}
	d = cachex.DetectMode(ctx, custom, cachex.Config{})
	if d.Mode != cachex.ModeDistributedAtomic || d.Source != cachex.SourceProbe {
		t.Fatalf("probed custom store: %+v; want distributed_atomic from probe", d)
	}
	broken := &selfReported{Cache: newLocal(t, cachex.LocalConfig{}), distributed: true, noLocks: true}
	d = cachex.DetectMode(ctx, broken, cachex.Config{})
	if d.Mode != cachex.ModeDistributedBasic || d.Capabilities.Locking || !d.Capabilities.AtomicIncrement {
		t.Fatalf("probed store whose locks do not exclude: %+v; want distributed_basic", d)
	}
	// ...unless a registered detector knows it. Detectors are global, so
	// this one only answers for its own store.
	known := &selfReported{Cache: newLocal(t, cachex.LocalConfig{})}
	cachex.RegisterDetector(func(_ context.Context, c cachex.Cache) (cachex.Capabilities, bool) {
		if c != known {
			return cachex.Capabilities{}, false
		}
		return cachex.Capabilities{Distributed: true, AtomicIncrement: true}, true
	})
	d = cachex.DetectMode(ctx, known, cachex.Config{})
	if d.Mode != cachex.ModeDistributedBasic || d.Source != cachex.SourceDetector {
		t.Fatalf("detector: %+v; want distributed_basic from detector", d)
	}
	// Declared still wins over detectors.
	d = cachex.DetectMode(ctx, known, cachex.Config{Capabilities: &cachex.Capabilities{}})
	if d.Mode != cachex.ModeLocalOnly || d.Source != cachex.SourceDeclared {
		t.Fatalf("declared over detector: %+v", d)
	}
	for m, s := range map[cachex.Mode]string{cachex.ModeLocalOnly: "local_only", cachex.ModeDistributedBasic: "distributed_basic", cachex.ModeDistributedAtomic: "distributed_atomic"} {
		if m.String() != s {
			t.Errorf("%d.String() = %q; want %q", int(m), m.String(), s)
		}
	}
}

// selfReported is a user-defined store: a Local that claims to be
// distributed, optionally with locks that never exclude.
type selfReported struct {
	cachex.Cache
	distributed bool
	noLocks     bool
}

func (s *selfReported) Capabilities() cachex.Capabilities {
	return cachex.Capabilities{Distributed: s.distributed}
}

func (s *selfReported) Lock(ctx context.Context, key, owner string, ttl time.Duration) (*cachex.Lock, error) {
	if s.noLocks {
		key += time.Now().String() // a new name each time: never excludes
	}
	return s.Cache.Lock(ctx, key, owner, ttl)
}

// A nil detector is refused where it is registered; it was dropped
// without a word.
func TestRegisterDetectorRefusesNil(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "cachex.RegisterDetector: the detector is nil") {
			t.Fatalf("RegisterDetector(nil) recovered %v; want a panic naming the call", r)
		}
	}()
	cachex.RegisterDetector(nil)
}

// A nil store is refused where DetectMode is called, naming it, declared
// capabilities or not; it panicked with a nil dereference inside the probe
// (after handing the nil to every registered detector), or, with
// capabilities declared, reported them for no store at all.
func TestDetectModeRefusesNil(t *testing.T) {
	declared := cachex.Capabilities{Distributed: true}
	for _, cfg := range []cachex.Config{{}, {Capabilities: &declared}} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "cachex.DetectMode: the cache is nil") {
					t.Errorf("DetectMode(nil, Capabilities %v) recovered %v; want a panic naming the call and the cache", cfg.Capabilities, r)
				}
			}()
			cachex.DetectMode(context.Background(), nil, cfg)
		}()
	}
}
