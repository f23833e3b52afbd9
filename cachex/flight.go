package cachex

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"
)

// flight is one in-progress load shared by concurrent Fetch calls.
type flight struct {
	done chan struct{}
	val  []byte
	err  error
	// abandoned is set when the load failed after its caller's ctx ended:
	// the error is most likely that ctx's, not the others'.
	abandoned bool
}

// flightGroup collapses concurrent loads of one key into a single call
// (what golang.org/x/sync/singleflight does, in the few lines we need).
type flightGroup struct {
	mu      sync.Mutex
	flights map[string]*flight
}

// do runs fn once for all concurrent callers with the same key. A caller
// whose ctx ends stops waiting; the load itself goes on for the others.
// fn runs with the ctx of the caller that starts it: when that ctx ends
// and fn fails, the callers waiting with a live ctx run it again rather
// than take the error of someone else's giving up.
func (g *flightGroup) do(ctx context.Context, key string, fn func() ([]byte, error)) ([]byte, error) {
	g.mu.Lock()
	if g.flights == nil {
		g.flights = make(map[string]*flight)
	}
	if f, ok := g.flights[key]; ok {
		g.mu.Unlock()
		select {
		case <-f.done:
			if f.abandoned && ctx.Err() == nil {
				return g.do(ctx, key, fn)
			}
			return bytes.Clone(f.val), f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	g.flights[key] = f
	g.mu.Unlock()

	defer func() {
		if r := recover(); r != nil {
			f.err = fmt.Errorf("cachex: load panicked: %v", r)
			g.finish(key, f)
			panic(r)
		}
		g.finish(key, f)
	}()
	f.val, f.err = fn()
	f.abandoned = f.err != nil && ctx.Err() != nil
	return f.val, f.err
}

func (g *flightGroup) finish(key string, f *flight) {
	g.mu.Lock()
	delete(g.flights, key)
	g.mu.Unlock()
	close(f.done)
}

// getSetter is the part of a Cache that fetch builds on.
type getSetter interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// fetch implements Cache.Fetch on top of Get and Set. The leader stores the
// loaded value before the flight ends, so a caller arriving after the flight
// finds it with Get and never loads twice. A nil load is refused whether or
// not the key is cached: checked only on a miss, it would panic now and then.
// So are an empty key and a ttl under a millisecond (op names the call).
func fetch(ctx context.Context, op string, c getSetter, g *flightGroup, key string, ttl time.Duration,
	load func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	if key == "" {
		return nil, emptyKey(op)
	}
	if err := checkTTL(op, key, ttl); err != nil {
		return nil, err
	}
	if load == nil {
		return nil, fmt.Errorf("cachex: fetch %q: load is nil", key)
	}
	if v, ok, err := c.Get(ctx, key); err != nil || ok {
		return v, err
	}
	return g.do(ctx, key, func() ([]byte, error) {
		if v, ok, err := c.Get(ctx, key); err != nil || ok {
			return v, err
		}
		v, err := load(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.Set(ctx, key, v, ttl); err != nil {
			return nil, fmt.Errorf("fetch store: %w", err)
		}
		return v, nil
	})
}
