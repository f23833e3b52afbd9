// Package notifier fans one source of signals out to any number of
// subscribers. Its goroutine runs only while someone is subscribed, and the
// source is first asked for on the first subscription (so a process that
// never waits opens nothing).
package notifier

import "sync"

// Notifier is safe for concurrent use.
type Notifier struct {
	source func() <-chan struct{}

	mu   sync.Mutex
	subs map[chan struct{}]struct{}
	stop chan struct{} // closes the running goroutine
	done chan struct{} // closed when it has returned
}

// New returns a notifier over the channel source returns.
func New(source func() <-chan struct{}) *Notifier {
	return &Notifier{source: source, subs: map[chan struct{}]struct{}{}}
}

// Subscribe returns a channel that receives (coalesced) after each signal
// of the source, and a function that ends the subscription; the last one
// to end stops the goroutine and waits for it.
func (n *Notifier) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	n.subs[ch] = struct{}{}
	if n.stop == nil {
		n.stop, n.done = make(chan struct{}), make(chan struct{})
		go n.run(n.source(), n.stop, n.done)
	}
	n.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			n.mu.Lock()
			delete(n.subs, ch)
			var done chan struct{}
			if len(n.subs) == 0 && n.stop != nil {
				close(n.stop)
				done = n.done
				n.stop, n.done = nil, nil
			}
			n.mu.Unlock()
			if done != nil {
				<-done
			}
		})
	}
}

func (n *Notifier) run(src <-chan struct{}, stop, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case <-src:
		}
		n.mu.Lock()
		for ch := range n.subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		n.mu.Unlock()
	}
}
