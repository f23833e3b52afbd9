package cachex_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tasker-go/tasker/cachex"
)

func TestZZScratch(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	c, err := cachex.New(cachex.Config{Distributed: "rediss://127.0.0.1:63790/0"}, zap.New(core))
	fmt.Println(err)
	defer c.Close()
	err = c.Set(context.Background(), "x", []byte("y"), time.Second)
	fmt.Println(err, c.(*cachex.Resilient).Healthy())
	for _, e := range logs.All() {
		fmt.Println(e.Level, e.Message, e.ContextMap())
	}
	r, _ := cachex.NewRedis(cachex.RedisConfig{URL: "rediss://127.0.0.1:63790/0"})
	fmt.Printf("%#v\n", r.Ping(context.Background()))
	r.Close()
}
