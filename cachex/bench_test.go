package cachex_test

// Figures measured on the project's machine (AMD EPYC, 2 cores shared with
// other work, Go 1.26, Redis 7.0.15 on loopback) with
//
//	source scripts/redis.sh
//	go test -run '^$' -bench . -benchmem -cpu 1 -count 3 ./cachex/
//
//	BenchmarkLocalGetHit          59-91 ns/op     0 B/op  0 allocs/op  (11-17 million/s on one core)
//	BenchmarkLocalGetHitParallel  59-64 ns/op     0 B/op  0 allocs/op  (-cpu 1; with -cpu 2 one hot key
//	                                                                    costs 94-165 ns/op: the store's
//	                                                                    RWMutex and ristretto's buffers
//	                                                                    share cache lines)
//	BenchmarkFetchMissThenHit     3.0-3.6 us/op   545 B/op  8 allocs/op (miss+load+set, hit, delete;
//	                                                                    the set waits for ristretto)
//	BenchmarkRedisGet             44-54 us/op     296 B/op  8 allocs/op (one loopback round trip)
//
// A hit does not allocate because values are kept as strings in a
// ristretto.Cache[string, string] and returned as is by GetString.

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
)

func BenchmarkLocalGetHit(b *testing.B) {
	ctx := context.Background()
	l := newLocal(b, cachex.LocalConfig{})
	if err := l.SetString(ctx, "workflow:42:def", "a cached workflow definition", 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, ok, _ := l.GetString(ctx, "workflow:42:def"); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkLocalGetHitParallel(b *testing.B) {
	ctx := context.Background()
	l := newLocal(b, cachex.LocalConfig{})
	if err := l.SetString(ctx, "workflow:42:def", "a cached workflow definition", 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, _ := l.GetString(ctx, "workflow:42:def"); !ok {
				b.Error("miss")
				return
			}
		}
	})
}

// Each iteration: a miss that loads and stores, then a hit, then a delete so
// the next iteration misses again.
func BenchmarkFetchMissThenHit(b *testing.B) {
	ctx := context.Background()
	l := newLocal(b, cachex.LocalConfig{})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "step:" + strconv.Itoa(i)
	}
	value := []byte("a step result")
	load := func(context.Context) ([]byte, error) { return value, nil }
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		key := keys[i%len(keys)]
		if _, err := l.Fetch(ctx, key, time.Minute, load); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Fetch(ctx, key, time.Minute, load); err != nil {
			b.Fatal(err)
		}
		if err := l.Delete(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}

// One GET round trip to the shared test Redis on loopback.
func BenchmarkRedisGet(b *testing.B) {
	url := redisURL(b)
	ctx := context.Background()
	r := newRedis(b, url, namespace(b, url))
	if err := r.SetString(ctx, "workflow:42:def", "a cached workflow definition", time.Minute); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, ok, err := r.GetString(ctx, "workflow:42:def"); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
