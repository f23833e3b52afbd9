package claimer

import (
	"container/heap"
	"sync"
	"time"
)

// maxDue bounds the due times kept: beyond it the latest are dropped (the
// poll interval and the store's next wake-up still find them).
const maxDue = 4096

// Due holds the times at which work this process knows of becomes ready:
// retries and suspensions it committed. The claim loop arms its timer for
// the earliest, busy or idle. Safe for concurrent use; the zero value is
// ready.
type Due struct {
	mu    sync.Mutex
	times timeHeap
	kick  chan struct{}
}

func (d *Due) kickCh() chan struct{} {
	if d.kick == nil {
		d.kick = make(chan struct{}, 1)
	}
	return d.kick
}

// Add notes that work becomes ready at t.
func (d *Due) Add(t time.Time) {
	d.mu.Lock()
	earliest := len(d.times) == 0 || t.Before(d.times[0])
	if len(d.times) < maxDue {
		heap.Push(&d.times, t)
	} else if earliest {
		d.times[0] = t // replaces a later one; still a heap (it is the least)
	}
	kick := d.kickCh()
	d.mu.Unlock()
	if earliest {
		select { // the loop's timer may be armed for later: re-arm it
		case kick <- struct{}{}:
		default:
		}
	}
}

// Next drops the times not after now and returns the earliest later one.
func (d *Due) Next(now time.Time) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.times) > 0 && !d.times[0].After(now) {
		heap.Pop(&d.times)
	}
	if len(d.times) == 0 {
		return time.Time{}, false
	}
	return d.times[0], true
}

// Changed receives when a new earliest time was added.
func (d *Due) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.kickCh()
}

type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
