package cachex_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/cachex"
)

// A single-node deployment: no Redis, everything in process.
func Example() {
	ctx := context.Background()
	c, err := cachex.New(cachex.Config{Instance: "node-1"}, nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()

	def, _ := c.Fetch(ctx, "workflow:42", time.Minute, func(context.Context) ([]byte, error) {
		return []byte("steps: [fetch, transform, store]"), nil
	})
	fmt.Println(string(def))

	n, _ := c.Incr(ctx, "runs:today", 1, 24*time.Hour)
	fmt.Println("runs:", n)

	lock, _ := c.Lock(ctx, "run:42", "", time.Minute)
	_, err = c.Lock(ctx, "run:42", "someone-else", time.Minute)
	fmt.Println("owner:", lock.Owner(), "fence:", lock.Fence(), "second lock held:", errors.Is(err, cachex.ErrLockHeld))
	_ = lock.Release(ctx)

	d, err := cachex.DetectMode(ctx, c, cachex.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("mode:", d.Mode)
	// Output:
	// steps: [fetch, transform, store]
	// runs: 1
	// owner: node-1 fence: 1 second lock held: true
	// mode: local_only
}

func ExampleSystemGate() {
	ctx := context.Background()
	c, _ := cachex.NewLocal(cachex.LocalConfig{})
	defer c.Close()
	gate, _ := cachex.NewSystemGate(c, cachex.BreakerConfig{ConsecutiveFailures: 2}, nil)

	// The payments API answered 429 with Retry-After: 30.
	_ = gate.Pause(ctx, "payments", time.Now().Add(30*time.Second))
	fmt.Println("payments allowed:", gate.Allow(ctx, "payments"))

	// The search API fails twice in a row: its breaker opens.
	for range 2 {
		if gate.Allow(ctx, "search") {
			_ = gate.Record(ctx, "search", false)
		}
	}
	fmt.Println("search:", gate.State("search"), "allowed:", gate.Allow(ctx, "search"))
	// Output:
	// payments allowed: false
	// search: open allowed: false
}
