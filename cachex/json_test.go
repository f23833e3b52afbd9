package cachex_test

import (
	"context"
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
