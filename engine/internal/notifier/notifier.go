// Package notifier fans one source of signals out to any number of
// subscribers. Its goroutine runs only while someone is subscribed, and the
// source is asked for when it starts and released when it stops (so a
// process that never waits opens and polls nothing).
package notifier

import "sync"

// Notifier is safe for concurrent use.
type Notifier struct {
	source func() (<-chan struct{}, func())

	mu   sync.Mutex
	subs map[chan struct{}]struct{}
	stop chan struct{} // closes the running goroutine
	done chan struct{} // closed when it has returned
}

// New returns a notifier over the channel source returns; the function it
// returns with it is called when the notifier stops listening.
func New(source func() (<-chan struct{}, func())) *Notifier {
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
		src, stopSource := n.source()
		go n.run(src, stopSource, n.stop, n.done)
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

func (n *Notifier) run(src <-chan struct{}, stopSource func(), stop, done chan struct{}) {
	defer close(done)
	defer stopSource()
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
