package engine

import "time"

// Lifecycle event names.
const (
	EventTaskStarted        = "task.started"
	EventTaskCompleted      = "task.completed"
	EventTaskFailed         = "task.failed"
	EventTaskCancelled      = "task.cancelled"
	EventTaskRetried        = "task.retry_requested" // error back to pending: by Retry, or Resolve of its last failed step
	EventStepStarted        = "step.started"
	EventStepCompleted      = "step.completed"
	EventStepFailed         = "step.failed"
	EventStepRetryScheduled = "step.retry_scheduled"
	EventStepResolved       = "step.resolved_manually"
	EventStepDiscarded      = "step.result_discarded"
)

// Event is a lifecycle notification. Subscribers see events after the
// change they describe has committed, but for the task.started of a start
// made in the caller's transaction (InTx), which comes when Start returns:
// the engine cannot see that commit, or a rollback.
type Event struct {
	Name    string
	TaskID  int64
	Step    string
	Attempt int
	Error   string
	At      time.Time
}

// MaxSubscribeBuffer is the largest buffer Subscribe gives a subscription:
// the channel is allocated whole (about 100 bytes an event, so 100 MB
// here), and a larger number would make the allocation panic or exhaust
// memory rather than buy anything a subscriber that keeps up needs.
const MaxSubscribeBuffer = 1 << 20

// Subscribe returns a channel of lifecycle events (buffered, buffer
// events; below 1, 256; above MaxSubscribeBuffer, MaxSubscribeBuffer;
// events that do not fit are dropped and counted in Stats) and a function
// that ends the subscription and closes the channel.
func (e *Engine) Subscribe(buffer int) (<-chan Event, func()) {
	if buffer < 1 {
		buffer = 256
	}
	buffer = min(buffer, MaxSubscribeBuffer)
	return e.bus.Subscribe(buffer)
}
