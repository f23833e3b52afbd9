package waiters

// Kept is the number of slots the set remembers.
func (s *Set) KeptLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.kept)
}
