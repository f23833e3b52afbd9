package bus_test

import (
	"testing"

	"github.com/tasker-go/tasker/engine/internal/bus"
)

func TestPublishNeverBlocksAndCountsMisses(t *testing.T) {
	var b bus.Bus[int]
	fast, stopFast := b.Subscribe(10)
	_, stopSlow := b.Subscribe(1)
	for i := range 3 {
		b.Publish(i) // the slow subscriber's buffer holds one
	}
	if got := b.Dropped(); got != 2 {
		t.Fatalf("dropped %d, want 2", got)
	}
	stopSlow()
	stopSlow() // twice is fine
	for want := range 3 {
		if got := <-fast; got != want {
			t.Fatalf("got %d, want %d", got, want)
		}
	}
	stopFast()
	if _, ok := <-fast; ok {
		t.Fatal("the channel is open after unsubscribing")
	}
}
