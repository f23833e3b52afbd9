package engine_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
)

// BenchmarkStart starts one-step workflows from 8 goroutines (as the peers
// harness does), with no worker running: the cost of Start alone.
//
//	go test -run '^$' -bench Start -benchtime 4000x ./engine/
func BenchmarkStart(b *testing.B) {
	open := map[string]func(b *testing.B) store.Store{
		"sqlite": func(b *testing.B) store.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), nil)
			benchMust(b, err)
			return s
		},
		"postgres": func(b *testing.B) store.Store {
			s, err := postgres.Open(context.Background(), pgtest.URL(b), &postgres.Options{Schema: pgtest.NewSchema(b)})
			benchMust(b, err)
			return s
		},
	}
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			s := open[db](b)
			defer s.Close()
			e, err := engine.New(engine.Config{Store: s})
			benchMust(b, err)
			benchMust(b, e.HandleFunc("noop", func(sc *engine.StepContext) (any, error) { return 1, nil }))
			benchMust(b, e.Register(&engine.Template{Namespace: "bench", Name: "one", Steps: []engine.StepTemplate{{Name: "s", Handler: "noop"}}}))
			ctx := context.Background()
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.Start(ctx, "bench/one", nil, engine.Unique()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "starts/s")
		})
	}
}
