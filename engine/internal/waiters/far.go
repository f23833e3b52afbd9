package waiters

import (
	"context"
	"sync"
	"time"

	"github.com/tasker-go/tasker/store"
)

// Far wakes a Set's waiters of tasks finished by commits that this
// process's engine did not hand to them: other processes' (on SQLite, any
// connection's, its own writer's included: the file cannot tell them
// apart). While anyone holds it, one goroutine listens to Source, and at
// each signal asks which of the waited tasks are done, in one statement
// (DoneAmong), and wakes their waiters alone; a task waited for alone is
// read whole (Read) and handed over, as a commit of this process does.
//
// Each waiter used to read its own task at every signal, so that every
// commit cost one read per waiter: 5,000 Start+Wait calls at once on
// SQLite made 500,000 reads and took 13.5 s.
type Far struct {
	Set *Set
	// Source starts the signal (a commit may have finished tasks) and
	// returns it with the function that stops it; a commit made after it
	// returns must signal.
	Source    func() (<-chan struct{}, func())
	DoneAmong func(ctx context.Context, ids []int64) ([]int64, error)
	Read      func(ctx context.Context, id int64) (*store.TaskOutcome, error)
	// Linger keeps the goroutine this long after the last release, so
	// that waits one after another (a caller waiting for many tasks in
	// turn) do not each start and stop it. Zero: stop at once.
	Linger time.Duration

	mu     sync.Mutex
	users  int
	cancel context.CancelFunc
	done   chan struct{}
	idle   *time.Timer // the lingering stop, while no one holds it
}

// Hold makes sure the goroutine runs and returns the function that lets
// it go; the last to let go stops it and waits for it (after Linger, if
// set, unless someone holds it again). Commits made after Hold returns
// are seen.
func (f *Far) Hold() (release func()) {
	f.mu.Lock()
	f.users++
	if f.idle != nil {
		f.idle.Stop()
		f.idle = nil
	}
	if f.cancel == nil {
		sig, stop := f.Source()
		ctx, cancel := context.WithCancel(context.Background())
		f.cancel, f.done = cancel, make(chan struct{})
		go f.run(ctx, sig, stop, f.done)
	}
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.users--
			last := f.users == 0
			if last && f.Linger > 0 {
				f.idle = time.AfterFunc(f.Linger, f.Close)
				last = false
			}
			f.mu.Unlock()
			if last {
				f.Close()
			}
		})
	}
}

// Close stops the goroutine now, unless someone holds it, and waits for
// it. A later Hold starts it again.
func (f *Far) Close() {
	f.mu.Lock()
	if f.users > 0 || f.cancel == nil {
		f.mu.Unlock()
		return
	}
	cancel, done := f.cancel, f.done
	f.cancel, f.done = nil, nil
	if f.idle != nil {
		f.idle.Stop()
		f.idle = nil
	}
	f.mu.Unlock()
	cancel()
	<-done
}

func (f *Far) run(ctx context.Context, sig <-chan struct{}, stop func(), done chan struct{}) {
	defer close(done)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		f.look(ctx)
	}
}

// look wakes the waiters of the waited tasks that are done. When it
// cannot tell, it wakes them all: each reads its own task, as it would at
// its poll.
func (f *Far) look(ctx context.Context) {
	ids := f.Set.IDs()
	switch len(ids) {
	case 0:
		return
	case 1:
		d, err := f.Read(ctx, ids[0])
		switch {
		case err != nil:
			f.Set.Notify(ids[0])
		case d.State.Done():
			f.Set.NotifyDone(ids[0], d)
		}
		return
	}
	done, err := f.DoneAmong(ctx, ids)
	if err != nil {
		done = ids
	}
	for _, id := range done {
		f.Set.Notify(id)
	}
}
