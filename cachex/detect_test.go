package cachex_test

import (
	"context"
	"errors"
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

	d := detect(t, ctx, l, cachex.Config{})
	if d.Mode != cachex.ModeLocalOnly || d.Source != cachex.SourceBuiltin {
		t.Fatalf("local store: %+v; want local_only from builtin", d)
	}
	declared := cachex.Capabilities{Distributed: true}
	d = detect(t, ctx, l, cachex.Config{Capabilities: &declared})
	if d.Mode != cachex.ModeDistributedBasic || d.Source != cachex.SourceDeclared {
		t.Fatalf("declared capabilities: %+v; want distributed_basic from declared", d)
	}

	// A store of the user's own: probed at run time...
	custom := &selfReported{Cache: newLocal(t, cachex.LocalConfig{}), distributed: true}
	d = detect(t, ctx, custom, cachex.Config{})
	if d.Mode != cachex.ModeDistributedAtomic || d.Source != cachex.SourceProbe {
		t.Fatalf("probed custom store: %+v; want distributed_atomic from probe", d)
	}
	broken := &selfReported{Cache: newLocal(t, cachex.LocalConfig{}), distributed: true, noLocks: true}
	d = detect(t, ctx, broken, cachex.Config{})
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
	d = detect(t, ctx, known, cachex.Config{})
	if d.Mode != cachex.ModeDistributedBasic || d.Source != cachex.SourceDetector {
		t.Fatalf("detector: %+v; want distributed_basic from detector", d)
	}
	// Declared still wins over detectors.
	d = detect(t, ctx, known, cachex.Config{Capabilities: &cachex.Capabilities{}})
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

// A done context is refused with its error, as every Cache call refuses
// one, whether it is done before DetectMode or while it probes. The probe
// read the refused Incr and Lock as a store that cannot do them: a store
// that can do both was reported distributed_basic, without a word.
func TestDetectModeRefusesADoneContext(t *testing.T) {
	t.Parallel()
	custom := &selfReported{Cache: newLocal(t, cachex.LocalConfig{}), distributed: true}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d, err := cachex.DetectMode(ctx, custom, cachex.Config{}); !errors.Is(err, context.Canceled) {
		t.Errorf("DetectMode with a cancelled context = %+v, %v; want context.Canceled", d, err)
	}

	// Cancelled between the probe's Incr and its Lock.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	midway := &cancelOnIncr{selfReported: selfReported{Cache: newLocal(t, cachex.LocalConfig{}), distributed: true}, cancel: cancel}
	if d, err := cachex.DetectMode(ctx, midway, cachex.Config{}); !errors.Is(err, context.Canceled) {
		t.Errorf("DetectMode cancelled while probing = %+v, %v; want context.Canceled", d, err)
	}

	// A live context still probes.
	d, err := cachex.DetectMode(context.Background(), custom, cachex.Config{})
	if err != nil || d.Mode != cachex.ModeDistributedAtomic {
		t.Errorf("DetectMode = %+v, %v; want distributed_atomic", d, err)
	}
}

// cancelOnIncr cancels its context on the second Incr, after answering it.
type cancelOnIncr struct {
	selfReported
	cancel context.CancelFunc
	incrs  int
}

func (c *cancelOnIncr) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	n, err := c.selfReported.Incr(ctx, key, delta, ttl)
	if c.incrs++; c.incrs == 2 {
		c.cancel()
	}
	return n, err
}

// recordingLocks is a store whose locks never exclude and that remembers
// every lock it handed out, to see which are still held.
type recordingLocks struct {
	cachex.Cache
	local *cachex.Local
	keys  []string
}

func (s *recordingLocks) Capabilities() cachex.Capabilities { return cachex.Capabilities{} }

func (s *recordingLocks) Lock(ctx context.Context, key, owner string, ttl time.Duration) (*cachex.Lock, error) {
	key = fmt.Sprintf("%s#%d", key, len(s.keys)) // a new name each time: never excludes
	s.keys = append(s.keys, key)
	return s.local.Lock(ctx, key, owner, ttl)
}

// The probe gives back every lock it takes: on a store whose second lock
// was granted (it does not exclude), that lock stayed held for its 10 s.
func TestDetectModeProbeReleasesItsLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLocal(t, cachex.LocalConfig{})
	s := &recordingLocks{Cache: l, local: l}
	if d := detect(t, ctx, s, cachex.Config{}); d.Source != cachex.SourceProbe || d.Capabilities.Locking {
		t.Fatalf("DetectMode = %+v; want a probe that finds no locking", d)
	}
	if len(s.keys) != 2 {
		t.Fatalf("the probe took %d locks; want 2", len(s.keys))
	}
	for _, key := range s.keys {
		lk, err := l.Lock(ctx, key, "after", time.Second)
		if err != nil {
			t.Errorf("Lock(%s) after DetectMode = %v; want the probe's lock released", key, err)
			continue
		}
		_ = lk.Release(ctx)
	}
}
