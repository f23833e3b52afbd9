package cachex

import (
	"testing"
	"time"
)

// A ProbeTimeout left to its default covers a dial the cache allows: the
// default 500ms was shorter than a DialTimeout of 2s, and a Redis that
// took a second to reach was never probed back into use.
func TestProbeTimeoutDefaultsToTheDialTimeoutWhenLonger(t *testing.T) {
	for _, c := range []struct {
		dial, want time.Duration
	}{{0, 500 * time.Millisecond}, {200 * time.Millisecond, 500 * time.Millisecond}, {2 * time.Second, 2 * time.Second}} {
		remote, err := NewRedis(RedisConfig{URL: "redis://127.0.0.1:1/0", DialTimeout: c.dial})
		if err != nil {
			t.Fatal(err)
		}
		local, err := NewLocal(LocalConfig{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewResilient(remote, local, FallbackConfig{RetryInterval: time.Hour}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := r.cfg.ProbeTimeout
		_ = r.Close()
		if got != c.want {
			t.Errorf("DialTimeout %s: ProbeTimeout = %s; want %s", c.dial, got, c.want)
		}
	}
}
