package cachex

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// nilCache is the error of a JSON helper (call: "cachex.GetJSON") given a
// nil cache, which it would otherwise dereference.
func nilCache(call, key string) error {
	return fmt.Errorf("%s %q: the cache is nil", call, key)
}

// GetJSON reads the value under key and decodes it as JSON into a T. A nil
// c is refused.
func GetJSON[T any](ctx context.Context, c Cache, key string) (T, bool, error) {
	var v T
	if c == nil {
		return v, false, nilCache("cachex.GetJSON", key)
	}
	raw, ok, err := c.Get(ctx, key)
	if err != nil || !ok {
		return v, false, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, false, fmt.Errorf("decode cached %q: %w", key, err)
	}
	return v, true, nil
}

// SetJSON encodes v as JSON and stores it under key for ttl. A nil c is
// refused.
func SetJSON[T any](ctx context.Context, c Cache, key string, v T, ttl time.Duration) error {
	if c == nil {
		return nilCache("cachex.SetJSON", key)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q for the cache: %w", key, err)
	}
	return c.Set(ctx, key, raw, ttl)
}

// FetchJSON is Fetch for JSON-encoded values of type T. A nil c is
// refused.
func FetchJSON[T any](ctx context.Context, c Cache, key string, ttl time.Duration,
	load func(ctx context.Context) (T, error)) (T, error) {
	var v T
	if c == nil {
		return v, nilCache("cachex.FetchJSON", key)
	}
	if load == nil { // (the wrapper below is never nil: say so here)
		return v, fmt.Errorf("cachex: fetch %q: load is nil", key)
	}
	raw, err := c.Fetch(ctx, key, ttl, func(ctx context.Context) ([]byte, error) {
		loaded, err := load(ctx)
		if err != nil {
			return nil, err
		}
		raw, err := json.Marshal(loaded)
		if err != nil {
			return nil, fmt.Errorf("encode %q for the cache: %w", key, err)
		}
		return raw, nil
	})
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("decode cached %q: %w", key, err)
	}
	return v, nil
}
