package bench

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/internal/pgtest"
)

// The smoke run of `tasker bench --experiments`: a tiny scale on SQLite
// and PostgreSQL, every row printed (the figures at this scale mean
// nothing; docs/experiments.md has the real run).
func TestExperimentsSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds of work: not in -short")
	}
	var out bytes.Buffer
	err := RunExperiments(context.Background(), &out, Options{Scale: 0.002, DB: pgtest.URL(t)})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"CLAIM", "PLAN'S NUMBER", "HOLDS?", "E1 ", "E2 ", "E4 ", "E5 ", "E6 ", "Index Scan"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, row := range []string{`E3\s+sqlite`, `E3\s+postgres`, `E4\s+sqlite`, `E4\s+postgres`, `E7\s+sqlite`, `E7\s+postgres`} {
		if !regexp.MustCompile(`(?m)^` + row + `\s`).MatchString(out.String()) {
			t.Errorf("output lacks the row %q:\n%s", row, out.String())
		}
	}
}

func TestSlopeAndFlat(t *testing.T) {
	var rising, level []soakSample
	for i := range 20 {
		at := time.Duration(i) * 10 * time.Second
		rising = append(rising, soakSample{at: at, rss: uint64(100<<20 + i*(1<<20)), heap: 10 << 20, goroutines: 30})
		level = append(level, soakSample{at: at, rss: uint64(100<<20 + (i%2)*(1<<18)), heap: 10 << 20, goroutines: 30})
	}
	// 1 MiB every 10 s is 6 MiB a minute.
	if s, noise, n := slope(rising, func(s soakSample) float64 { return mib(s.rss) }); math.Abs(s-6) > 1e-9 || noise > 1e-9 || n != 16 {
		t.Fatalf("rising: slope %g, noise %g over %d samples; want 6 MiB/min, 0, 16", s, noise, n)
	}
	if sum, ok := soakSummary(rising); ok || !strings.Contains(sum, "RSS +6.00 MiB/min") {
		t.Fatalf("a rising RSS called flat: %s", sum)
	}
	if sum, ok := soakSummary(level); !ok {
		t.Fatalf("a level RSS (alternating a quarter MiB) not called flat: %s", sum)
	}
	if _, ok := soakSummary(level[:3]); ok {
		t.Fatal("three samples called flat")
	}
}

func TestPgDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://h/db":                          "postgres://h/db",
		"postgres://h/db?schema=x":                 "postgres://h/db",
		"postgres://h/db?sslmode=disable&schema=x": "postgres://h/db?sslmode=disable",
	} {
		if got := pgDSN(in); got != want {
			t.Errorf("pgDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExperimentsOnlyRefusesUnknownIDs(t *testing.T) {
	err := RunExperiments(context.Background(), &bytes.Buffer{}, Options{Scale: 1, Only: "E1,E9"})
	if err == nil || !strings.Contains(err.Error(), `"E9" is not an experiment`) {
		t.Fatalf("--only E1,E9: %v", err)
	}
}

// The flaky dependency refuses calls in the last window of every period
// from its start, and nothing before it starts.
func TestFlakyDepDown(t *testing.T) {
	f := &flakyDep{period: 10 * time.Second, window: 2 * time.Second}
	began := time.Unix(1000, 0)
	if f.down(began.Add(9 * time.Second)) {
		t.Fatal("down before it began")
	}
	f.began.Store(began.UnixNano())
	for _, c := range []struct {
		at   time.Duration
		down bool
	}{{0, false}, {7999 * time.Millisecond, false}, {8 * time.Second, true}, {9999 * time.Millisecond, true}, {10 * time.Second, false}, {18500 * time.Millisecond, true}, {25 * time.Second, false}} {
		if got := f.down(began.Add(c.at)); got != c.down {
			t.Errorf("at %s: down %v, want %v", c.at, got, c.down)
		}
	}
}
