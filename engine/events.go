package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// Lifecycle event names.
const (
	EventTaskStarted        = "task.started"
	EventTaskCompleted      = "task.completed"
	EventTaskFailed         = "task.failed"
	EventTaskCancelled      = "task.cancelled"
	EventTaskRetried        = "task.retry_requested"
	EventStepStarted        = "step.started"
	EventStepCompleted      = "step.completed"
	EventStepFailed         = "step.failed"
	EventStepRetryScheduled = "step.retry_scheduled"
	EventStepResolved       = "step.resolved_manually"
	EventStepDiscarded      = "step.result_discarded"
)

// Event is a lifecycle notification. Subscribers see events after the
// change they describe has committed.
type Event struct {
	Name    string
	TaskID  int64
	Step    string
	Attempt int
	Error   string
	At      time.Time
}

// bus fans events out to subscribers without ever blocking execution: a
// subscriber whose buffer is full misses the event, and the miss is counted.
type bus struct {
	mu      sync.RWMutex
	subs    map[int]chan Event
	next    int
	dropped atomic.Int64
}

// Subscribe returns a channel of lifecycle events (buffered; events that do
// not fit are dropped and counted in Stats) and a function that ends the
// subscription and closes the channel.
func (e *Engine) Subscribe(buffer int) (<-chan Event, func()) {
	if buffer < 1 {
		buffer = 256
	}
	b := &e.bus
	ch := make(chan Event, buffer)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[int]chan Event{}
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

func (b *bus) publish(ev Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, ch := range b.subs {
		select {
		case ch <- ev:
		default:
			b.dropped.Add(1)
		}
	}
}
