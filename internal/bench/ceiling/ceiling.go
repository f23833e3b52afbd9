// Package ceiling measures the rate every store is compared with: one-row
// INSERT transactions committed one after another, the most commits per
// second a database gives a writer that does nothing else. `tasker bench`
// prints it under its table and the store benchmarks (storetest) report it,
// both through this one probe.
package ceiling

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"
)

// Table is the scratch table the probe writes to; CreateTable makes it.
const Table = "bench_scratch"

// CreateTable creates Table on db with the id column its dialect needs.
func CreateTable(ctx context.Context, db *bun.DB) error {
	id := "id INTEGER PRIMARY KEY" // SQLite: the rowid
	if db.Dialect().Name().String() == "pg" {
		id = "id bigserial PRIMARY KEY"
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+Table+" ("+id+", v TEXT NOT NULL)"); err != nil {
		return fmt.Errorf("creating %s: %w", Table, err)
	}
	return nil
}

// InsertCommit runs one transaction that inserts one row of Table.
func InsertCommit(ctx context.Context, db *bun.DB, v string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+Table+" (v) VALUES (?)", v); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Rate is the outcome of one Measure.
type Rate struct {
	PerSecond  float64 // commits per second
	Commits    int     // transactions committed
	Goroutines int     // committing at once
}

// Measure commits about n transactions of InsertCommit from goroutines
// goroutines at once (each gets n/goroutines, at least one) into Table,
// which must exist, and returns the rate.
func Measure(ctx context.Context, db *bun.DB, n, goroutines int) (Rate, error) {
	goroutines = max(1, goroutines)
	per := max(1, n/goroutines)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	began := time.Now()
	for g := range goroutines {
		wg.Go(func() {
			for i := range per {
				if err := InsertCommit(ctx, db, fmt.Sprint("row ", g*per+i)); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Rate{}, fmt.Errorf("committing into %s: %w", Table, err)
	}
	c := per * goroutines
	return Rate{PerSecond: float64(c) / time.Since(began).Seconds(), Commits: c, Goroutines: goroutines}, nil
}
