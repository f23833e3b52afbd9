package cachex_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
)

type step struct {
	Name    string `json:"name"`
	Retries int    `json:"retries"`
}

func TestJSONHelpers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newLocal(t, cachex.LocalConfig{})
	if err := cachex.SetJSON(ctx, c, "s", step{"fetch", 3}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok, err := cachex.GetJSON[step](ctx, c, "s")
	if err != nil || !ok || got != (step{"fetch", 3}) {
		t.Fatalf("GetJSON = %+v, %v, %v", got, ok, err)
	}
	if _, ok, err := cachex.GetJSON[step](ctx, c, "missing"); ok || err != nil {
		t.Fatalf("GetJSON miss = %v, %v", ok, err)
	}
	_ = c.SetString(ctx, "bad", "{", 0)
	if _, _, err := cachex.GetJSON[step](ctx, c, "bad"); err == nil {
		t.Fatal("GetJSON decoded garbage")
	}
	loads := 0
	for range 2 {
		v, err := cachex.FetchJSON(ctx, c, "f", time.Minute, func(context.Context) (step, error) {
			loads++
			return step{"load", 1}, nil
		})
		if err != nil || v != (step{"load", 1}) {
			t.Fatalf("FetchJSON = %+v, %v", v, err)
		}
	}
	if loads != 1 {
		t.Fatalf("FetchJSON loaded %d times; want 1", loads)
	}
}

// A nil cache is refused by the JSON helpers with an error naming the
// call, the key and the cache; each died of a nil dereference.
func TestJSONHelpersRefuseANilCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	check := func(call string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), call+` "k": the cache is nil`) {
			t.Errorf("%s(nil cache) = %v; want an error naming the call, the key and the nil cache", call, err)
		}
	}
	run := func(call string, f func() error) {
		t.Helper()
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%s(nil cache) panicked: %v", call, r)
			}
		}()
		check(call, f())
	}
	run("cachex.GetJSON", func() error { _, _, err := cachex.GetJSON[int](ctx, nil, "k"); return err })
	run("cachex.SetJSON", func() error { return cachex.SetJSON(ctx, nil, "k", 1, time.Minute) })
	run("cachex.FetchJSON", func() error {
		_, err := cachex.FetchJSON(ctx, nil, "k", time.Minute, func(context.Context) (int, error) { return 1, nil })
		return err
	})
}
