package bench

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/internal/bench/ceiling"
	"github.com/tasker-go/tasker/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestChooseWorkloads(t *testing.T) {
	got, err := chooseWorkloads(" w2c, W1 ,,w5")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range got {
		names = append(names, w.name)
	}
	if strings.Join(names, ",") != "W2c,W1,W5" {
		t.Fatalf("chose %v, want W2c,W1,W5 in the order given", names)
	}
	if _, err := chooseWorkloads("W1,W9"); err == nil || !strings.Contains(err.Error(), `unknown workload "W9"`) {
		t.Fatalf("W9: err = %v", err)
	}
	if _, err := chooseWorkloads(" , "); err == nil || !strings.Contains(err.Error(), "names no workload") {
		t.Fatalf("empty list: err = %v", err)
	}
	// Named twice, a workload ran twice, two rows of one name.
	if _, err := chooseWorkloads("W1,W2,w1"); err == nil || !strings.Contains(err.Error(), `--workloads: "W1" is named twice`) {
		t.Fatalf("W1 twice: err = %v", err)
	}
}

// A --scale that sizes no workload sensibly is refused before anything
// runs: NaN passed the check (every comparison with it is false) and ran
// each workload at size 1, and so did 1e300 (every size overflowed to the
// smallest int, which max(1, …) made 1).
func TestScaleRefused(t *testing.T) {
	if got := scaled(10000, maxScale); got != 10000*maxScale {
		t.Fatalf("scaled(10000, maxScale) = %d, want %d", got, 10000*maxScale)
	}
	for _, scale := range []float64{0, -1, math.NaN(), math.Inf(1), maxScale * 1.5, 1e300} {
		var out strings.Builder
		err := Run(context.Background(), &out, Options{Scale: scale, Workloads: "W1", DB: filepath.Join(t.TempDir(), "b.db")})
		if err == nil || !strings.Contains(err.Error(), "--scale") {
			t.Errorf("Run with scale %g: %v, want a refusal naming --scale", scale, err)
		}
		if err := RunExperiments(context.Background(), &out, Options{Scale: scale}); err == nil || !strings.Contains(err.Error(), "--scale") {
			t.Errorf("RunExperiments with scale %g: %v, want a refusal naming --scale", scale, err)
		}
		if out.Len() > 0 {
			t.Errorf("scale %g: printed %q before refusing", scale, out.String())
		}
	}
}

func TestParseProcs(t *testing.T) {
	got, err := parseProcs("1, 3,64")
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 64 {
		t.Fatalf("parseProcs = %v, %v", got, err)
	}
	if _, err := parseProcs("1,3, 1"); err == nil || !strings.Contains(err.Error(), `--procs: 1 is named twice`) {
		t.Errorf("parseProcs(1,3,1): %v, want 1 refused as named twice (each workload ran twice with 1)", err)
	}
	for _, bad := range []string{"0", "65", "x", ""} {
		if _, err := parseProcs(bad); err == nil {
			t.Errorf("parseProcs(%q) accepted", bad)
		}
	}
}

// The probe commits what it says it committed, from several goroutines
// too (SQLite's single writer queues them).
func TestCeilingCommitsEveryRow(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "raw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := ceiling.CreateTable(ctx, st.DB()); err != nil {
		t.Fatal(err)
	}
	one, err := ceiling.Measure(ctx, st.DB(), 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	many, err := ceiling.Measure(ctx, st.DB(), 21, 4) // 5 each
	if err != nil {
		t.Fatal(err)
	}
	if one.Commits != 20 || many.Commits != 20 || many.Goroutines != 4 || one.PerSecond <= 0 {
		t.Fatalf("one %+v, many %+v", one, many)
	}
	var rows int
	if err := st.DB().NewRaw("SELECT count(*) FROM "+ceiling.Table).Scan(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	if rows != 40 {
		t.Fatalf("%s holds %d rows, want 40", ceiling.Table, rows)
	}
}
