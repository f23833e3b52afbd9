// Package waiters wakes the callers waiting for a task to change (Wait,
// Result) when this process commits a change to it.
package waiters

import "sync"

// Set is safe for concurrent use. The zero value is ready.
type Set struct {
	mu   sync.Mutex
	byID map[int64][]chan struct{}
}

// Add returns a channel closed at the task's next Notify. Pair with Drop
// when giving up before it closes.
func (s *Set) Add(taskID int64) chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = map[int64][]chan struct{}{}
	}
	s.byID[taskID] = append(s.byID[taskID], ch)
	return ch
}

// Drop forgets a channel Add returned.
func (s *Set) Drop(taskID int64, ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.byID[taskID]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byID, taskID)
	} else {
		s.byID[taskID] = list
	}
}

// Notify wakes every waiter of the task.
func (s *Set) Notify(taskID int64) {
	s.mu.Lock()
	list := s.byID[taskID]
	delete(s.byID, taskID)
	s.mu.Unlock()
	for _, ch := range list {
		close(ch)
	}
}

// Len is the number of tasks waited for.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}
