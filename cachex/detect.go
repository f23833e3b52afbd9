package cachex

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Mode is how the instances of a deployment coordinate.
type Mode int

const (
	// ModeLocalOnly: the store is this process's; nothing is shared.
	ModeLocalOnly Mode = iota
	// ModeDistributedBasic: values are shared, but increments or locks are
	// not atomic across processes.
	ModeDistributedBasic
	// ModeDistributedAtomic: values, atomic increments and locks are shared
	// by every process.
	ModeDistributedAtomic
)

// String returns local_only, distributed_basic or distributed_atomic.
func (m Mode) String() string {
	switch m {
	case ModeLocalOnly:
		return "local_only"
	case ModeDistributedBasic:
		return "distributed_basic"
	case ModeDistributedAtomic:
		return "distributed_atomic"
	}
	return "unknown"
}

// ModeOf maps capabilities to the coordination mode they allow.
func ModeOf(c Capabilities) Mode {
	switch {
	case !c.Distributed:
		return ModeLocalOnly
	case c.AtomicIncrement && c.Locking:
		return ModeDistributedAtomic
	default:
		return ModeDistributedBasic
	}
}

// Detector tells the capabilities of stores it knows; ok is false for a
// store it does not recognise.
type Detector func(ctx context.Context, c Cache) (caps Capabilities, ok bool)

var detectors struct {
	sync.RWMutex
	list []Detector
}

// RegisterDetector adds a detector consulted by DetectMode, after declared
// capabilities and before the built-in knowledge, in registration order.
// It is meant for packages that provide their own Cache implementation.
// A nil detector panics, naming the call, as http.Handle does with a nil
// handler.
func RegisterDetector(d Detector) {
	if d == nil {
		panic("cachex.RegisterDetector: the detector is nil")
	}
	detectors.Lock()
	defer detectors.Unlock()
	detectors.list = append(detectors.list, d)
}

// Where the capabilities of a Detection came from.
const (
	SourceDeclared = "declared"
	SourceDetector = "detector"
	SourceBuiltin  = "builtin"
	SourceProbe    = "probe"
)

// Detection is the outcome of DetectMode.
type Detection struct {
	Mode         Mode
	Capabilities Capabilities
	Source       string // SourceDeclared, SourceDetector, SourceBuiltin or SourceProbe
}

// DetectMode finds the capabilities of c and the mode they allow, asking in
// this order and stopping at the first answer:
//
//  1. cfg.Capabilities, when the operator declared them;
//  2. the detectors added with RegisterDetector;
//  3. built-in knowledge of *Local, *Redis and *Resilient (for the latter,
//     the mode in force right now);
//  4. a runtime probe: two Incr on a probe key must return consecutive
//     values, and a second Lock on a probe key must be refused. Whether the
//     store is shared across processes cannot be seen from one process, so
//     the probe takes Distributed from c.Capabilities().
//
// A ctx already done, or done while the probe runs, is refused with an error
// wrapping ctx.Err(), as every Cache call refuses one: the probe would read
// the refused Incr and Lock as a store that cannot do them. A nil c panics,
// naming the call, as RegisterDetector does with a nil detector: there is
// no store to report a mode of (the engine always passes the store it
// built).
func DetectMode(ctx context.Context, c Cache, cfg Config) (Detection, error) {
	if c == nil {
		panic("cachex.DetectMode: the cache is nil")
	}
	if err := ctx.Err(); err != nil {
		return Detection{}, fmt.Errorf("cachex.DetectMode: %w", err)
	}
	if cfg.Capabilities != nil {
		return detection(*cfg.Capabilities, SourceDeclared), nil
	}
	detectors.RLock()
	list := detectors.list
	detectors.RUnlock()
	for _, d := range list {
		if caps, ok := d(ctx, c); ok {
			return detection(caps, SourceDetector), nil
		}
	}
	switch c.(type) {
	case *Local, *Redis, *Resilient:
		return detection(c.Capabilities(), SourceBuiltin), nil
	}
	caps := probe(ctx, c)
	if err := ctx.Err(); err != nil {
		return Detection{}, fmt.Errorf("cachex.DetectMode: probing %T: %w", c, err)
	}
	return detection(caps, SourceProbe), nil
}

func detection(caps Capabilities, source string) Detection {
	return Detection{Mode: ModeOf(caps), Capabilities: caps, Source: source}
}

func probe(ctx context.Context, c Cache) Capabilities {
	caps := Capabilities{Distributed: c.Capabilities().Distributed}
	var b [8]byte
	_, _ = rand.Read(b[:])
	key := "probe:" + InstanceID() + ":" + hex.EncodeToString(b[:])

	v1, err1 := c.Incr(ctx, key, 1, time.Minute)
	v2, err2 := c.Incr(ctx, key, 1, time.Minute)
	caps.AtomicIncrement = err1 == nil && err2 == nil && v2 == v1+1

	first, err := c.Lock(ctx, key, "probe-1", 10*time.Second)
	if err == nil {
		second, err := c.Lock(ctx, key, "probe-2", 10*time.Second)
		caps.Locking = errors.Is(err, ErrLockHeld)
		if err == nil { // a store that does not exclude: give it back too
			_ = second.Release(ctx)
		}
		_ = first.Release(ctx)
	}
	return caps
}
