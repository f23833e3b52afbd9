package chaos

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"
)

// sample prints "sample RSS_BYTES GOROUTINES" every interval until ctx
// ends.
func sample(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var pages, resident int64
		if b, err := os.ReadFile("/proc/self/statm"); err == nil {
			_, _ = fmt.Sscan(string(b), &pages, &resident)
		}
		fmt.Printf("sample %d %d\n", resident*int64(os.Getpagesize()), runtime.NumGoroutine())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
