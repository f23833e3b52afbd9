// Package pressure assesses how hard the store's connection pool is
// pushed, on the original plan's four levels. The tuner, the claim batch
// sizer and the retry planner read one shared Monitor, so every decision
// in a process sees the same assessment.
package pressure

import (
	"database/sql"
	"sync"
	"time"
)

// Level is the pool pressure, from Low to Critical.
type Level int8

// The plan's levels: utilisation (connections in use / pool maximum) below
// 0.5 is Low, below 0.7 Moderate, below 0.85 High, else Critical.
const (
	Low Level = iota
	Moderate
	High
	Critical
)

var names = [...]string{"low", "moderate", "high", "critical"}

func (l Level) String() string {
	if l < Low || l > Critical {
		return "unknown"
	}
	return names[l]
}

// ForUtilisation maps a utilisation in [0, ∞) to its level.
func ForUtilisation(u float64) Level {
	switch {
	case u < 0.5:
		return Low
	case u < 0.7:
		return Moderate
	case u < 0.85:
		return High
	}
	return Critical
}

// Reading is one assessment of the pool.
type Reading struct {
	Level Level
	// Utilisation is InUse / MaxOpen; with an unbounded pool (MaxOpen 0)
	// it is InUse / Open, and 0 when nothing is open.
	Utilisation          float64
	InUse, Open, MaxOpen int
	// Waits and WaitTime are the acquisitions that had to wait for a
	// connection, and how long they waited in total, since the previous
	// reading.
	Waits    int64
	WaitTime time.Duration
	At       time.Time
}

// Assess turns two pool samples into a reading. Waiting for a connection
// since the previous sample means the pool is the bottleneck whatever its
// utilisation says at the instant of the sample, so it raises the level to
// at least High.
func Assess(prev, now sql.DBStats, at time.Time) Reading {
	r := Reading{InUse: now.InUse, Open: now.OpenConnections, MaxOpen: now.MaxOpenConnections, At: at,
		Waits: now.WaitCount - prev.WaitCount, WaitTime: now.WaitDuration - prev.WaitDuration}
	switch {
	case now.MaxOpenConnections > 0:
		r.Utilisation = float64(now.InUse) / float64(now.MaxOpenConnections)
	case now.OpenConnections > 0:
		r.Utilisation = float64(now.InUse) / float64(now.OpenConnections)
	}
	r.Level = ForUtilisation(r.Utilisation)
	if r.Waits > 0 && r.Level < High {
		r.Level = High
	}
	return r
}

// Monitor keeps the latest reading of one pool. A loop may Sample at an
// interval; readers call Fresh, which samples only when the last reading is
// older than they accept (so no timer is needed where nothing loops).
type Monitor struct {
	pool func() sql.DBStats
	now  func() time.Time

	mu   sync.Mutex
	prev sql.DBStats
	last Reading
}

// NewMonitor returns a monitor of pool (typically (*sql.DB).Stats). Until
// the first Sample its reading is Low.
func NewMonitor(pool func() sql.DBStats, now func() time.Time) *Monitor {
	return &Monitor{pool: pool, now: now, prev: pool()}
}

// Sample takes a new reading against the previous sample and keeps it.
func (m *Monitor) Sample() Reading {
	s := m.pool()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = Assess(m.prev, s, m.now())
	m.prev = s
	return m.last
}

// Last returns the latest reading (the zero Reading, level Low, before
// the first Sample). A nil Monitor reads Low.
func (m *Monitor) Last() Reading {
	if m == nil {
		return Reading{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// Fresh returns the latest reading, sampling first when it is older than
// maxAge (or when there is none). A nil Monitor reads Low.
func (m *Monitor) Fresh(maxAge time.Duration) Reading {
	if m == nil {
		return Reading{}
	}
	if r := m.Last(); !r.At.IsZero() && m.now().Sub(r.At) < maxAge {
		return r
	}
	return m.Sample()
}
