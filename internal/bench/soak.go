package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// soakSample is one reading of the process during a soak.
type soakSample struct {
	at         time.Duration
	rss, heap  uint64
	goroutines int
	done       int // workflows finished so far
}

// rss is the process's resident set (Linux: /proc/self/statm); elsewhere
// the Go runtime's Sys (memory obtained from the OS), and false.
func rss() (uint64, bool) {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				return pages * uint64(os.Getpagesize()), true
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Sys, false
}

// soakRate is the steady load: one-step workflows started per second.
const soakRate = 200

// MinSoak is the shortest soak `tasker bench --soak` runs: sampled every
// second, a shorter one has under the four samples soakSummary fits, and
// its verdict would be "flat: NO" on nothing measured.
const MinSoak = 5 * time.Second

// SoakEvery is the sampling interval of a soak (shorter for soaks under
// 80 s, so a short one still has eight samples).
func SoakEvery(d time.Duration) time.Duration {
	return max(time.Second, min(10*time.Second, d/8))
}

// soakRun starts soakRate one-step workflows a second for d while the
// engine runs, sampling RSS, heap and goroutines every SoakEvery(d); each
// sample is also written to series as it is taken.
func soakRun(ctx context.Context, tg *benchTarget, d time.Duration, series io.Writer) ([]soakSample, error) {
	def, err := benchSpec("W1")
	if err != nil {
		return nil, err
	}
	r, err := newRig(ctx, tg, def, nil)
	if err != nil {
		return nil, err
	}
	r.run(ctx)
	began := time.Now()
	every := SoakEvery(d)
	var samples []soakSample
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		c, f, _ := r.tr.Counts()
		m, _ := rss()
		s := soakSample{at: time.Since(began), rss: m, heap: ms.HeapInuse, goroutines: runtime.NumGoroutine(), done: c + f}
		samples = append(samples, s)
		fmt.Fprintf(series, "%8.0f\t%8.1f\t%8.1f\t%6d\t%8d\n", s.at.Seconds(), mib(s.rss), mib(s.heap), s.goroutines, s.done)
	}
	fmt.Fprintf(series, "%8s\t%8s\t%8s\t%6s\t%8s\n", "t (s)", "RSS MiB", "heap MiB", "gorout", "done")
	sample()
	tick := time.NewTicker(time.Second / (soakRate / 10)) // 10 starts a tick
	defer tick.Stop()
	next := began.Add(every)
	i := 0
	for time.Since(began) < d && ctx.Err() == nil {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		for range 10 {
			id, err := def.start(ctx, r.e, i)
			if err != nil {
				return samples, errors.Join(fmt.Errorf("starting workflow %d: %w", i, err), r.close(ctx, nil))
			}
			r.tr.Add(id)
			i++
		}
		if !time.Now().Before(next) {
			sample()
			next = next.Add(every)
		}
	}
	err = r.waitAll(ctx)
	return samples, errors.Join(err, r.close(ctx, nil))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// slope fits y = a + b·t (t in minutes) by least squares over the samples
// after the warm-up (the first fifth of the run) and returns b and the
// residuals' standard deviation.
func slope(samples []soakSample, y func(soakSample) float64) (perMin, noise float64, n int) {
	if len(samples) == 0 {
		return 0, 0, 0
	}
	warm := samples[len(samples)-1].at / 5
	var ts, ys []float64
	for _, s := range samples {
		if s.at >= warm {
			ts, ys = append(ts, s.at.Minutes()), append(ys, y(s))
		}
	}
	n = len(ts)
	if n < 3 {
		return 0, 0, n
	}
	var mt, my float64
	for i := range ts {
		mt, my = mt+ts[i], my+ys[i]
	}
	mt, my = mt/float64(n), my/float64(n)
	var sxy, sxx float64
	for i := range ts {
		sxy += (ts[i] - mt) * (ys[i] - my)
		sxx += (ts[i] - mt) * (ts[i] - mt)
	}
	if sxx == 0 {
		return 0, 0, n
	}
	perMin = sxy / sxx
	var ss float64
	for i := range ts {
		e := ys[i] - (my + perMin*(ts[i]-mt))
		ss += e * e
	}
	return perMin, math.Sqrt(ss / float64(n-2)), n
}

// flat says whether a fitted drift over the window is within the noise:
// at most twice the residuals' deviation, or 1% of the level.
func flat(perMin, noise, window, level float64) bool {
	return math.Abs(perMin*window) <= max(2*noise, 0.01*level)
}

// soakSummary fits the series and says whether RSS, heap and goroutines
// stay flat after the warm-up.
func soakSummary(samples []soakSample) (string, bool) {
	if len(samples) < 4 {
		return fmt.Sprintf("%d samples: too short to fit", len(samples)), false
	}
	window := (samples[len(samples)-1].at - samples[len(samples)-1].at/5).Minutes()
	last := samples[len(samples)-1]
	rS, rN, n := slope(samples, func(s soakSample) float64 { return mib(s.rss) })
	hS, hN, _ := slope(samples, func(s soakSample) float64 { return mib(s.heap) })
	gS, gN, _ := slope(samples, func(s soakSample) float64 { return float64(s.goroutines) })
	ok := flat(rS, rN, window, mib(last.rss)) && flat(hS, hN, window, mib(last.heap)) && flat(gS, gN, window, float64(last.goroutines))
	return fmt.Sprintf("RSS %+.2f MiB/min (noise %.2f), heap %+.2f MiB/min (noise %.2f), goroutines %+.1f/min; %d samples after warm-up, %d workflows",
		rS, rN, hS, hN, gS, n, last.done), ok
}

// experimentE6 is a soak of d on tg at soakRate starts a second.
func experimentE6(ctx context.Context, tg *benchTarget, d time.Duration, series io.Writer) ([]expRow, error) {
	samples, err := soakRun(ctx, tg, d, series)
	if err != nil {
		return nil, err
	}
	sum, ok := soakSummary(samples)
	return []expRow{{"E6", "sqlite", fmt.Sprintf("memory flat under steady load (%d starts/s for %s)", soakRate, d.Round(time.Second)), "40% less memory growth; flat",
		sum, holds(ok)}}, nil
}

// RunSoak is `tasker bench --soak D`: the steady load for D on a fresh
// SQLite file (or a fresh schema with --db postgres://…), the series as it
// is sampled, then the fitted slopes.
func RunSoak(ctx context.Context, out io.Writer, o Options, d time.Duration) error {
	tg := &benchTarget{}
	if strings.HasPrefix(o.DB, "postgres://") || strings.HasPrefix(o.DB, "postgresql://") {
		dsn := pgDSN(o.DB)
		tg.pgURL, tg.schema, tg.procs = dsn, benchSchemaName(), 1
		defer func() { _ = dropSchema(ctx, dsn, tg.schema) }()
	} else {
		dir, err := os.MkdirTemp("", "tasker-soak-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		tg.sqlitePath = dir + "/soak.db"
	}
	fmt.Fprintf(out, "tasker bench --soak %s: %d one-step workflows started a second, sampled every %s, load at start %s\n", d, soakRate, SoakEvery(d), loadAvg())
	samples, err := soakRun(ctx, tg, d, out)
	if err != nil {
		return err
	}
	sum, ok := soakSummary(samples)
	fmt.Fprintf(out, "slope after warm-up (the first fifth): %s; flat: %s; load at end %s\n", sum, holds(ok), loadAvg())
	return nil
}
