package pressure

import (
	"database/sql"
	"testing"
	"time"
)

func TestForUtilisation(t *testing.T) {
	for _, c := range []struct {
		u    float64
		want Level
	}{{0, Low}, {0.49, Low}, {0.5, Moderate}, {0.69, Moderate}, {0.7, High}, {0.849, High}, {0.85, Critical}, {1, Critical}, {3, Critical}} {
		if got := ForUtilisation(c.u); got != c.want {
			t.Errorf("ForUtilisation(%v) = %v, want %v", c.u, got, c.want)
		}
	}
	if Level(9).String() != "unknown" || Critical.String() != "critical" {
		t.Fatal("level names")
	}
}

func TestAssess(t *testing.T) {
	at := time.Unix(100, 0)
	for _, c := range []struct {
		name      string
		prev, now sql.DBStats
		want      Level
		util      float64
	}{
		{"idle bounded", sql.DBStats{}, sql.DBStats{MaxOpenConnections: 10, OpenConnections: 2, InUse: 1}, Low, 0.1},
		{"busy bounded", sql.DBStats{}, sql.DBStats{MaxOpenConnections: 10, OpenConnections: 10, InUse: 9}, Critical, 0.9},
		{"unbounded uses open", sql.DBStats{}, sql.DBStats{OpenConnections: 4, InUse: 3}, High, 0.75},
		{"nothing open", sql.DBStats{}, sql.DBStats{}, Low, 0},
		{"waits raise to high", sql.DBStats{WaitCount: 5}, sql.DBStats{MaxOpenConnections: 10, InUse: 1, WaitCount: 6, WaitDuration: time.Millisecond}, High, 0.1},
		{"old waits do not", sql.DBStats{WaitCount: 6}, sql.DBStats{MaxOpenConnections: 10, InUse: 1, WaitCount: 6}, Low, 0.1},
	} {
		r := Assess(c.prev, c.now, at)
		if r.Level != c.want || r.Utilisation != c.util || !r.At.Equal(at) {
			t.Errorf("%s: got %v (util %v), want %v (util %v)", c.name, r.Level, r.Utilisation, c.want, c.util)
		}
	}
}

func TestMonitor(t *testing.T) {
	stats := sql.DBStats{MaxOpenConnections: 4}
	m := NewMonitor(func() sql.DBStats { return stats }, func() time.Time { return time.Unix(1, 0) })
	if m.Last().Level != Low {
		t.Fatal("initial reading should be low")
	}
	stats.InUse, stats.WaitCount = 4, 2
	if r := m.Sample(); r.Level != Critical || r.Waits != 2 {
		t.Fatalf("sample: %+v", r)
	}
	stats.InUse = 1
	if r := m.Sample(); r.Level != Low || r.Waits != 0 {
		t.Fatalf("second sample: %+v", r)
	}
	if m.Last().InUse != 1 {
		t.Fatal("Last should keep the latest sample")
	}
	now := time.Unix(1, 0)
	m.now = func() time.Time { return now }
	stats.InUse = 3
	if r := m.Fresh(time.Second); r.InUse != 1 {
		t.Fatalf("a reading younger than maxAge is reused, got %+v", r)
	}
	now = now.Add(time.Second)
	if r := m.Fresh(time.Second); r.InUse != 3 {
		t.Fatalf("a stale reading is replaced, got %+v", r)
	}
	var nilM *Monitor
	if nilM.Fresh(time.Second).Level != Low {
		t.Fatal("nil monitor reads low")
	}
	if nilM.Last().Level != Low {
		t.Fatal("nil monitor reads low")
	}
}
