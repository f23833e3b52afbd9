package engine

import "sync"

// closer cancels the children of the code-first tasks a commit failed
// (closeChildren) on a goroutine of its own, started when there is work
// and ending when there is none: on the completer's goroutine, a slow
// cancel (many children, a slow database) held up every step outcome of
// the process behind it. A crash before it runs leaves those children
// running, as one between the commit and the cancel always did: their
// parent is in error, whose retry reads them, and the maintenance pass
// cancels them once it has ended for good (cancelOrphans).
type closer struct {
	mu      sync.Mutex
	parents []int64
	done    chan struct{} // closed when the running drain has emptied the queue; nil when none runs
}

// closeChildrenLater queues parents for closeChildren, in the order given.
func (e *Engine) closeChildrenLater(parents []int64) {
	if len(parents) == 0 {
		return
	}
	c := &e.closing
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parents = append(c.parents, parents...)
	if c.done != nil {
		return // the running drain takes them
	}
	done := make(chan struct{})
	c.done = done
	go func() {
		for {
			c.mu.Lock()
			ids := c.parents
			c.parents = nil
			if len(ids) == 0 {
				c.done = nil
				c.mu.Unlock()
				close(done)
				return
			}
			c.mu.Unlock()
			e.closeChildren(ids)
		}
	}()
}

// closed waits until the children of every parent queued so far have
// been cancelled (or their cancel failed, logged).
func (e *Engine) closed() {
	c := &e.closing
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if done != nil {
		<-done
	}
}
