package sqlite

// Alone reports whether the store takes itself to be the only one on its
// file (presence).
func Alone(s *Store) bool { return s.pres.alone() }
