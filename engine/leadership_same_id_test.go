package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
)

// electionsSeen is a store (the real one) that remembers what its Elect
// calls answered, by leadership.
type electionsSeen struct {
	store.Store
	mu  sync.Mutex
	won map[string][]bool
}

func (s *electionsSeen) Elect(ctx context.Context, p *store.ElectParams) (bool, error) {
	ok, err := s.Store.Elect(ctx, p)
	if err == nil {
		s.mu.Lock()
		s.won[p.Name] = append(s.won[p.Name], ok)
		s.mu.Unlock()
	}
	return ok, err
}

func (s *electionsSeen) first(name string) (won, done bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.won[name]) == 0 {
		return false, false
	}
	return s.won[name][0], true
}

// Two processes given the same WorkerID (a copied configuration) are two
// engines: the maintenance and the schedules are led by one of them, not
// by both at once because the leadership's owner was the shared ID.
func TestSameWorkerIDDoesNotShareALeadership(t *testing.T) {
	ctx := context.Background()
	url, schema := pgtest.URL(t), pgtest.NewSchema(t)
	var seen [2]*electionsSeen
	for i := range seen {
		s, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		seen[i] = &electionsSeen{Store: s, won: map[string][]bool{}}
		// An hour between elections: each engine elects once, as its
		// run starts, and the first one's leadership lasts three hours.
		e := newEngine(t, engine.Config{Store: seen[i], WorkerID: "copied-id", Execution: engine.ExecutionConfig{
			RescueInterval: time.Hour, ScheduleInterval: time.Hour, PollInterval: time.Hour}})
		run(t, e)
		for _, name := range []string{"maintenance", "schedules"} {
			waitFor(t, "the first "+name+" election", func() bool { _, done := seen[i].first(name); return done })
		}
	}
	for _, name := range []string{"maintenance", "schedules"} {
		a, _ := seen[0].first(name)
		b, _ := seen[1].first(name)
		if !a || b {
			t.Errorf("%s: the first engine leads: %t, the second (same WorkerID, started later) leads: %t; want only the first", name, a, b)
		}
	}
}
