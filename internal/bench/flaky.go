package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
)

// flakyDep is a dependent system that refuses connections for the last
// window of every period (the 2 s every 10 s), counted from
// began. It counts the calls it gets, the retries among them, and the
// retries it served.
type flakyDep struct {
	began          atomic.Int64 // unix nanoseconds; 0 until the first call
	period, window time.Duration

	calls, retries, retriesOK atomic.Int64
}

// down reports whether the system refuses calls at t.
func (f *flakyDep) down(t time.Time) bool {
	began := f.began.Load()
	if began == 0 {
		return false
	}
	phase := time.Duration(t.UnixNano()-began) % f.period
	return phase >= f.period-f.window
}

// errRefused is what a refused dial returns (a *net.OpError wrapping
// ECONNREFUSED), so the predictive retry classifies it as it would a real
// one: connection_refused, factor 2.
var errRefused error = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

// call is the step's handler.
func (f *flakyDep) call(sc *engine.StepContext) (any, error) {
	f.calls.Add(1)
	ok := !f.down(time.Now())
	if sc.Attempt > 1 {
		f.retries.Add(1)
		if ok {
			f.retriesOK.Add(1)
		}
	}
	if !ok {
		return nil, fmt.Errorf("calling the inventory service: %w", errRefused)
	}
	return nil, nil
}

// flakyResult is one run of E4 or E5.
type flakyResult struct {
	workflows, failed         int
	calls, retries, retriesOK int64
	wall                      time.Duration
	cache                     []engine.CacheFamily // Status().Cache at the end
	reports                   int                  // reports the dashboard asked for
}

// flakyOpts choose what a flakyRun measures.
type flakyOpts struct {
	predictive bool // Template.PredictiveRetry
	// dashboard, when positive, asks for the last hour's report (ending
	// at the end of the current minute, as the admin API does) this
	// often while the workflows run.
	dashboard time.Duration
}

// flakyRun starts n one-step workflows at a steady rate over runFor
// (the engine running), each calling a flakyDep that refuses calls for
// window of every period, and waits for all of them to finish. Every
// time in it is scaled: the policy (base 250 ms, doubling to 8 s, 12
// attempts), and with o.predictive, the predictive retry's bounds (the
// defaults, 1 s to 5 min, times scale).
func flakyRun(ctx context.Context, tg *benchTarget, n int, runFor time.Duration, scale float64, o flakyOpts) (res flakyResult, err error) {
	sc := func(d time.Duration) time.Duration { return max(time.Millisecond, time.Duration(float64(d)*scale)) }
	dep := &flakyDep{period: sc(10 * time.Second), window: sc(2 * time.Second)}
	t := &engine.Template{Namespace: "bench", Name: "flaky", Version: "1", PredictiveRetry: o.predictive,
		Steps: []engine.StepTemplate{{Name: "call", Handler: "bench.flaky", RetryLimit: 12,
			Backoff: retry.Policy{Base: sc(250 * time.Millisecond), Max: sc(8 * time.Second)}}}}
	def := dagDef(t, map[string]engine.HandlerFunc{"bench.flaky": dep.call})
	r, err := newRig(ctx, tg, def, func(c *engine.Config) {
		c.PredictiveRetry = engine.PredictiveRetryConfig{Min: sc(time.Second), Max: sc(5 * time.Minute)}
		c.Execution.PollInterval = sc(time.Second)
	})
	if err != nil {
		return res, err
	}
	r.run(ctx)
	began := time.Now()
	dep.began.Store(began.UnixNano())
	stopDash := make(chan struct{})
	var dash sync.WaitGroup
	var dashErr error
	var reports atomic.Int64
	// stopDashboard ends the dashboard before the engine stops (a
	// report on a closed store fails).
	stopDashboard := sync.OnceFunc(func() { close(stopDash); dash.Wait() })
	defer stopDashboard()
	if o.dashboard > 0 {
		dash.Go(func() {
			tick := time.NewTicker(o.dashboard)
			defer tick.Stop()
			for {
				to := time.Now().Truncate(time.Minute).Add(time.Minute)
				if _, err := r.e.Report(ctx, to.Add(-time.Hour), to, engine.ReportFilter{}); err != nil {
					dashErr = fmt.Errorf("dashboard report: %w", err)
					return
				}
				reports.Add(1)
				select {
				case <-tick.C:
				case <-stopDash:
					return
				}
			}
		})
	}
	every := runFor / time.Duration(n)
	for i := range n {
		if d := time.Until(began.Add(time.Duration(i) * every)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				stopDashboard()
				return res, errors.Join(ctx.Err(), r.close(ctx, nil))
			}
		}
		id, err := def.start(ctx, r.e, i)
		if err != nil {
			stopDashboard()
			return res, errors.Join(fmt.Errorf("starting workflow %d: %w", i, err), r.close(ctx, nil))
		}
		r.tr.Add(id)
	}
	err = r.waitAll(ctx)
	res.wall = time.Since(began)
	stopDashboard()
	err = errors.Join(err, dashErr)
	res.cache, res.reports = r.e.Status().Cache, int(reports.Load())
	complete, failed, _ := r.tr.Counts()
	err = errors.Join(err, r.close(ctx, nil))
	res.workflows, res.failed = n, failed
	res.calls, res.retries, res.retriesOK = dep.calls.Load(), dep.retries.Load(), dep.retriesOK.Load()
	if err == nil && complete+failed != n {
		err = fmt.Errorf("only %d of %d workflows finished", complete+failed, n)
	}
	return res, err
}

// experimentE4: predictive retry vs the plain exponential backoff against
// a dependent system that refuses connections 2 s of every 10 s (times
// scale), 20 workflows started a second for three periods. Two runs
// each, alternating (plain, predictive, plain, predictive), summed.
func experimentE4(ctx context.Context, scale float64, db string, target func(string) *benchTarget, dropped func(*benchTarget) error) ([]expRow, error) {
	runFor := time.Duration(float64(30*time.Second) * scale)
	n := scaled(600, scale)
	var sum [2]flakyResult
	for rep := range 4 {
		pred := rep%2 == 1
		tg := target(fmt.Sprintf("e4-%d", rep))
		res, err := flakyRun(ctx, tg, n, runFor, scale, flakyOpts{predictive: pred})
		if err = errors.Join(err, dropped(tg)); err != nil {
			return nil, err
		}
		s := &sum[rep%2]
		s.workflows += res.workflows
		s.failed += res.failed
		s.calls += res.calls
		s.retries += res.retries
		s.retriesOK += res.retriesOK
		s.wall += res.wall
	}
	rate := func(r flakyResult) float64 {
		if r.retries == 0 {
			return 0
		}
		return float64(r.retriesOK) / float64(r.retries)
	}
	plain, pred := sum[0], sum[1]
	gain := 0.0
	if rate(plain) > 0 {
		gain = rate(pred)/rate(plain) - 1
	}
	return []expRow{{"E4", db,
		fmt.Sprintf("predictive vs plain exponential retry, a dependency refusing %s of every %s, %d workflows over %s (x2 runs)",
			roundDur(time.Duration(float64(2*time.Second)*scale)), roundDur(time.Duration(float64(10*time.Second)*scale)), n, roundDur(runFor)),
		"+30-50% retry success",
		fmt.Sprintf("%+.0f%% (retry success %.0f%% vs %.0f%%: %d/%d vs %d/%d); attempts %d vs %d; exhausted %d vs %d; mean wall %.1f vs %.1f s",
			100*gain, 100*rate(pred), 100*rate(plain), pred.retriesOK, pred.retries, plain.retriesOK, plain.retries,
			pred.calls, plain.calls, pred.failed, plain.failed, pred.wall.Seconds()/2, plain.wall.Seconds()/2),
		holds(gain >= 0.30)}}, nil
}

// roundDur prints a duration to two significant places.
func roundDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.String()
}

// experimentE5: the hit rates of the engine's cached values with the
// adaptive TTL off (fixed TTLs: 30 s for both families) and on, on E4's
// workload with the predictive retry on (every failure reads the step's
// history) and a dashboard asking for the last hour's report every
// second, for 60 s (times scale). One run each, off then on.
func experimentE5(ctx context.Context, scale float64, target func(string) *benchTarget) ([]expRow, error) {
	runFor := time.Duration(float64(time.Minute) * scale)
	n := scaled(1200, scale)
	var runs [2]flakyResult
	for i, on := range []bool{false, true} {
		tg := target(fmt.Sprintf("e5-%d", i))
		tg.toggles = map[string]bool{cachex.ToggleAdaptiveTTL: on}
		res, err := flakyRun(ctx, tg, n, runFor, scale, flakyOpts{predictive: true, dashboard: max(time.Millisecond, time.Duration(float64(time.Second)*scale))})
		if err != nil {
			return nil, err
		}
		runs[i] = res
	}
	family := func(r flakyResult, name string) engine.CacheFamily {
		for _, f := range r.cache {
			if f.Family == name {
				return f
			}
		}
		return engine.CacheFamily{Family: name}
	}
	var rows []expRow
	for _, name := range []string{"step_history", "report"} {
		off, on := family(runs[0], name), family(runs[1], name)
		what := "reads of the predictive retry's step history"
		if name == "report" {
			what = fmt.Sprintf("dashboard reports (%d vs %d asked)", runs[1].reports, runs[0].reports)
		}
		rows = append(rows, expRow{"E5", "sqlite", fmt.Sprintf("adaptive vs fixed TTL (30 s), %s, %d flaky workflows over %s", what, n, roundDur(runFor)),
			"higher hit rate",
			fmt.Sprintf("%.1f%% vs %.1f%% (%d/%d vs %d/%d); TTL at the end %s vs %s", 100*on.HitRate, 100*off.HitRate,
				on.Hits, on.Hits+on.Misses, off.Hits, off.Hits+off.Misses, roundDur(on.TTL), roundDur(off.TTL)),
			holds(on.HitRate > off.HitRate)})
	}
	return rows, nil
}
