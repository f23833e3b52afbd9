package engine_test

import (
	"context"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/postgres"
)

// openOnPostgres is the README's PostgreSQL set-up, verbatim
// (internal/readmetest checks that they match). It needs a server, so its
// example is compiled but not run.
func openOnPostgres(ctx context.Context) (*engine.Engine, error) {
	s, err := postgres.Open(ctx, "postgres://user:pass@db:5432/app", &postgres.Options{
		Schema:   "tasker", // created when missing; every connection's search_path
		MaxConns: 10,       // the connection budget: never exceeded, callers wait
	})
	if err != nil {
		return nil, err
	}
	return engine.New(engine.Config{Store: s})
}

// withSharedBackoff is the README's distributed cache set-up, verbatim.
func withSharedBackoff(s *postgres.Store) (*engine.Engine, error) {
	return engine.New(engine.Config{Store: s, Cache: cachex.Config{Distributed: "redis://cache:6379/0"}})
}

// The same workflows on PostgreSQL, with any number of worker processes.
// (Compiled, not run: it needs a server.)
func Example_postgres() {
	e, err := openOnPostgres(context.Background())
	if err != nil {
		panic(err)
	}
	_ = e
}

// Declaring a distributed cache makes every process sharing the Redis
// honour one back-off per dependent system. (Compiled, not run: it needs
// servers.)
func Example_distributedCache() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, "postgres://user:pass@db:5432/app", nil)
	if err != nil {
		panic(err)
	}
	e, err := withSharedBackoff(s)
	if err != nil {
		panic(err)
	}
	_ = e
}
