package tuner

import (
	"database/sql"
	"testing"
)

func TestNextConcurrency(t *testing.T) {
	pool := func(waits int64, inUse, maxOpen int) sql.DBStats {
		return sql.DBStats{WaitCount: waits, InUse: inUse, MaxOpenConnections: maxOpen}
	}
	cases := []struct {
		name         string
		cur, running int
		prev, now    sql.DBStats
		want         int
		lo, hi       int
	}{
		{"callers waited: a quarter fewer", 32, 32, pool(10, 10, 10), pool(14, 10, 10), 24, 4, 64},
		{"never below the minimum", 5, 5, pool(0, 10, 10), pool(1, 10, 10), 4, 4, 64},
		{"nearly full with free connections: grow", 32, 30, pool(3, 4, 10), pool(3, 5, 10), 40, 4, 64},
		{"never above the maximum", 60, 60, pool(3, 4, 10), pool(3, 5, 10), 64, 4, 64},
		{"pool fully used: hold", 32, 32, pool(3, 10, 10), pool(3, 10, 10), 32, 4, 64},
		{"room to spare: hold", 32, 8, pool(3, 2, 10), pool(3, 2, 10), 32, 4, 64},
		{"small limits still grow by one", 2, 2, pool(0, 0, 10), pool(0, 1, 10), 3, 1, 8},
	}
	for _, c := range cases {
		if got := Next(c.cur, c.lo, c.hi, c.prev, c.now, c.running); got != c.want {
			t.Errorf("%s: Next = %d, want %d", c.name, got, c.want)
		}
	}
}
