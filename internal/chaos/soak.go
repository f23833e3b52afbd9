package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tasker-go/tasker/internal/proctest"
)

// soakScenario: d of mixed load (workflows started every 50 ms, run by
// three worker processes whose steps take 0–20 ms) while every 30 s
// (d/4 when d is under two minutes) one of two victim workers is killed
// with SIGKILL and replaced. The third, steady worker samples its RSS and
// goroutine count every 5 s: the note after the table gives their slopes
// after the first quarter (warm-up); goroutines growing by half, or RSS
// doubling, is a problem. Then every workflow must complete, none twice.
func soakScenario(d time.Duration) scenario {
	return scenario{name: "soak " + d.String(), run: func(ctx context.Context, tg opener, _ bool) (Row, error) {
		return soak(ctx, tg, d)
	}}
}

type sampleAt struct {
	at         time.Duration
	rss        float64 // MiB
	goroutines float64
}

func soak(ctx context.Context, tg opener, d time.Duration) (Row, error) {
	var row Row
	r, err := newProcRun(ctx, tg)
	if err != nil {
		return row, err
	}
	defer r.close()
	every, killEvery := 5*time.Second, 30*time.Second
	if d < 2*time.Minute {
		every, killEvery = max(d/24, 100*time.Millisecond), d/4
	}
	steady, err := spawn(childSpec{Role: "worker", ID: "steady", DB: r.db, Ledger: r.ledger, StepDelay: 10 * time.Millisecond, SampleEvery: every})
	if err != nil {
		return row, err
	}
	r.workers = append(r.workers, steady)
	if _, err := steady.Expect("ready", time.Minute); err != nil {
		return row, err
	}
	began := time.Now()
	var samples []sampleAt
	stopped := make(chan string, 1)
	var sw sync.WaitGroup
	sw.Go(func() {
		for l := range steady.Lines() {
			var rss, g float64
			if _, err := fmt.Sscanf(l, "sample %f %f", &rss, &g); err == nil {
				samples = append(samples, sampleAt{time.Since(began), rss / (1 << 20), g})
			} else if strings.HasPrefix(l, "stopped") {
				stopped <- l
			}
		}
	})
	victims := make([]*proctest.Child, 2)
	spawned := 0
	victim := func(i int) error {
		spawned++
		c, err := r.worker(fmt.Sprintf("victim%d", spawned), time.Duration(spawned%3)*10*time.Millisecond)
		victims[i] = c
		return err
	}
	for i := range victims {
		if err := victim(i); err != nil {
			return row, err
		}
	}
	kills := 0
	deadline := time.After(d)
	tick, start := time.NewTicker(killEvery), time.NewTicker(50*time.Millisecond)
	defer tick.Stop()
	defer start.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			return row, ctx.Err()
		case <-deadline:
			running = false
		case <-start.C:
			if err := r.start(ctx, 1); err != nil {
				return row, err
			}
		case <-tick.C:
			i := rand.IntN(len(victims))
			victims[i].Kill()
			kills++
			if err := victim(i); err != nil {
				return row, err
			}
		}
	}
	ended := time.Now()
	if err := r.waitCompleted(ctx, len(r.ids), 3*time.Minute); err != nil {
		return row, err
	}
	row.Recovery = time.Since(ended)
	if err := steady.Signal(syscall.SIGTERM); err != nil {
		return row, err
	}
	sw.Wait()
	if err := steady.Wait(); err != nil {
		row.Problems = append(row.Problems, fmt.Sprintf("the steady worker: %v", err))
	}
	select {
	case l := <-stopped:
		var n int
		_, _ = fmt.Sscanf(l, "stopped %d", &n)
		row.StaleRefused += n
	default:
		row.Problems = append(row.Problems, "the steady worker did not report its stop")
	}
	if err := r.finish(ctx, &row, victims...); err != nil {
		return row, err
	}
	row.Notes = append(row.Notes, fmt.Sprintf("%d workers killed and replaced, %d workflows", kills, len(r.ids)))
	row.Notes = append(row.Notes, flatness(samples, d/4, &row.Problems)...)
	return row, nil
}

// flatness describes the samples after warm and adds a problem when
// goroutines grew by half (plus 10) or RSS doubled from the first
// quarter of them to the last.
func flatness(all []sampleAt, warm time.Duration, problems *[]string) []string {
	var s []sampleAt
	for _, x := range all {
		if x.at >= warm {
			s = append(s, x)
		}
	}
	if len(s) < 4 {
		*problems = append(*problems, fmt.Sprintf("%d samples after warm-up, too few to judge", len(s)))
		return nil
	}
	rssSlope := slope(s, func(x sampleAt) float64 { return x.rss })
	gSlope := slope(s, func(x sampleAt) float64 { return x.goroutines })
	q := len(s) / 4
	mean := func(xs []sampleAt, f func(sampleAt) float64) float64 {
		t := 0.0
		for _, x := range xs {
			t += f(x)
		}
		return t / float64(len(xs))
	}
	rss := func(x sampleAt) float64 { return x.rss }
	gor := func(x sampleAt) float64 { return x.goroutines }
	firstR, lastR := mean(s[:q], rss), mean(s[len(s)-q:], rss)
	firstG, lastG := mean(s[:q], gor), mean(s[len(s)-q:], gor)
	if lastG > firstG*1.5+10 {
		*problems = append(*problems, fmt.Sprintf("the steady worker's goroutines grew from %.0f to %.0f", firstG, lastG))
	}
	if lastR > 2*firstR {
		*problems = append(*problems, fmt.Sprintf("the steady worker's RSS grew from %.1f to %.1f MiB", firstR, lastR))
	}
	return []string{fmt.Sprintf("steady worker, %d samples after warm-up: RSS %.1f -> %.1f MiB (slope %+.2f MiB/min), goroutines %.0f -> %.0f (slope %+.2f/min)",
		len(s), firstR, lastR, rssSlope, firstG, lastG, gSlope)}
}

// slope is the least-squares slope of f over time, per minute.
func slope(s []sampleAt, f func(sampleAt) float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, x := range s {
		t := x.at.Minutes()
		y := f(x)
		n++
		sx += t
		sy += y
		sxx += t * t
		sxy += t * y
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}
