package predict

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/engine/internal/errclass"
	"github.com/tasker-go/tasker/engine/internal/pressure"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestErrorFactor(t *testing.T) {
	for c, want := range map[errclass.Class]float64{
		errclass.Timeout: 1.5, errclass.ConnRefused: 2, errclass.ConnReset: 2, errclass.DNS: 2,
		errclass.HTTP5xx: 1.3, errclass.HTTP4xx: 1, errclass.Decode: 0.5, errclass.NilDeref: 0.1,
		errclass.Programming: 0.1, errclass.TLS: 1, errclass.Cancelled: 1, errclass.Unknown: 1,
	} {
		if got := ErrorFactor(c); got != want {
			t.Errorf("ErrorFactor(%q) = %v, want %v", c, got, want)
		}
	}
}

func TestPressureFactor(t *testing.T) {
	for l, want := range map[pressure.Level]float64{pressure.Low: 0.8, pressure.Moderate: 1, pressure.High: 1.5, pressure.Critical: 2.5} {
		if got := PressureFactor(l); got != want {
			t.Errorf("PressureFactor(%v) = %v, want %v", l, got, want)
		}
	}
}

func TestHistoryFactor(t *testing.T) {
	for _, c := range []struct {
		ok, n int
		want  float64
	}{
		{0, 0, 1}, {9, 9, 1}, // insufficient data
		{8, 10, 0.8}, {10, 10, 0.8}, {79, 100, 1}, {50, 100, 1},
		{49, 100, 1.3}, {20, 100, 1.3}, {19, 100, 1.8}, {0, 50, 1.8},
	} {
		if got := HistoryFactor(c.ok, c.n); got != c.want {
			t.Errorf("HistoryFactor(%d/%d) = %v, want %v", c.ok, c.n, got, c.want)
		}
	}
}

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		name    string
		in      Inputs
		want    time.Duration
		bounded string
	}{
		{"all neutral", Inputs{Base: 10 * time.Second, Pressure: pressure.Moderate}, 10 * time.Second, ""},
		{"timeout, critical, failing history", Inputs{Base: 10 * time.Second, Class: errclass.Timeout, Pressure: pressure.Critical, Succeeded: 1, Attempts: 20},
			time.Duration(10 * 1.5 * 2.5 * 1.8 * float64(time.Second)), ""},
		{"raised to min", Inputs{Base: 2 * time.Second, Class: errclass.NilDeref, Pressure: pressure.Low}, time.Second, "min"},
		{"cut to max", Inputs{Base: 4 * time.Minute, Class: errclass.ConnRefused, Pressure: pressure.High}, 5 * time.Minute, "max"},
		{"custom bounds", Inputs{Base: time.Second, Pressure: pressure.Moderate, Min: 3 * time.Second, Max: time.Minute}, 3 * time.Second, "min"},
		{"history helps", Inputs{Base: 10 * time.Second, Pressure: pressure.Moderate, Succeeded: 9, Attempts: 10}, 8 * time.Second, ""},
		{"pressure not assessed", Inputs{Base: 10 * time.Second, Pressure: pressure.Critical, NoPressure: true}, 10 * time.Second, ""},
	} {
		d := Decide(c.in)
		if d.Final() != c.want || d.Bounded != c.bounded {
			t.Errorf("%s: final %v bounded %q, want %v %q (%+v)", c.name, d.Final(), d.Bounded, c.want, c.bounded, d)
		}
	}
	d := Decide(Inputs{Base: 1500 * time.Millisecond, Class: errclass.HTTP5xx, Pressure: pressure.High, Succeeded: 3, Attempts: 12})
	if d.BaseMS != 1500 || d.ErrorClass != "http_5xx" || d.ErrorFactor != 1.3 || d.Pressure != "high" || d.PressureFactor != 1.5 ||
		d.HistoryAttempts != 12 || d.HistorySuccess != 3 || d.HistoryFactor != 1.3 {
		t.Fatalf("decision does not carry its reasons: %+v", d)
	}
	if d := Decide(Inputs{Base: 5 * time.Second, NoPressure: true}); d.Pressure != "not_assessed" || d.PressureFactor != 1 {
		t.Fatalf("unassessed pressure: %+v", d)
	}
	if Decide(Inputs{Base: 5 * time.Second}).ErrorClass != "unknown" {
		t.Fatal("an unknown class is named")
	}
}

// A Min that is not a whole number of milliseconds still bounds the
// decided delay (recorded in milliseconds): Min 1.5 ms gave 1 ms, below
// it.
func TestDecideKeepsASubMillisecondMin(t *testing.T) {
	for _, base := range []time.Duration{0, time.Millisecond, 1900 * time.Microsecond} {
		d := Decide(Inputs{Base: base, Min: 1500 * time.Microsecond, Max: time.Second})
		if d.Final() < 1500*time.Microsecond {
			t.Errorf("base %s: final %s, below the min 1.5ms", base, d.Final())
		}
	}
}
