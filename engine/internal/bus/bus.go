// Package bus fans events out to subscribers without ever blocking the
// publisher: a subscriber whose buffer is full misses the event, and the
// miss is counted.
package bus

import (
	"sync"
	"sync/atomic"
)

// Bus is safe for concurrent use. The zero value is ready.
type Bus[T any] struct {
	mu      sync.RWMutex
	subs    map[int]chan T
	next    int
	dropped atomic.Int64
}

// Subscribe returns a buffered channel of events and a function that ends
// the subscription and closes the channel (safe to call twice).
func (b *Bus[T]) Subscribe(buffer int) (<-chan T, func()) {
	ch := make(chan T, max(buffer, 1))
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[int]chan T{}
	}
	id := b.next
	b.next++
	b.subs[id] = ch
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
			close(ch)
		})
	}
}

// Publish offers ev to every subscriber and returns how many missed it.
func (b *Bus[T]) Publish(ev T) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	missed := 0
	for _, ch := range b.subs {
		select {
		case ch <- ev:
		default:
			missed++
		}
	}
	if missed > 0 {
		b.dropped.Add(int64(missed))
	}
	return missed
}

// Dropped is how many deliveries were missed because a buffer was full.
func (b *Bus[T]) Dropped() int64 { return b.dropped.Load() }
