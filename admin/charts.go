package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/store"
)

// The overview's charts: bar charts drawn on the server as SVG from the
// task transitions (store.TaskActivity), so the page needs no script and
// no library.

// activityRange is a window the overview can chart.
type activityRange struct {
	Key     string // the range query value
	Label   string
	Width   time.Duration
	Buckets int
}

var activityRanges = []activityRange{
	{"1h", "last hour", time.Minute, 60},
	{"24h", "last 24 hours", 30 * time.Minute, 48},
	{"7d", "last 7 days", 4 * time.Hour, 42},
}

// rangeOf is the range named key, ok false for a name that is none ("" too:
// the overview charts the first when range is absent, and refuses it empty).
func rangeOf(key string) (activityRange, bool) {
	for _, r := range activityRanges {
		if r.Key == key {
			return r, true
		}
	}
	return activityRange{}, false
}

// chart is a bar chart as the template draws it.
type chart struct {
	ID, Title, Class string
	Width, Height    int
	Total, Max       int
	Bars             []chartBar
	Ticks            []chartTick
}

type chartBar struct {
	X, Y, W, H float64
	N          int
	Title      string
}

type chartTick struct {
	X     float64
	Label string
}

const (
	chartW, chartH = 560, 150
	chartTop       = 8  // room above the tallest bar
	chartAxis      = 20 // room below the bars for the time labels
)

// activity reads the window of r ending now and draws its two charts.
func (s *server) activity(ctx context.Context, r activityRange, now time.Time) ([]chart, error) {
	since := now.UTC().Truncate(r.Width).Add(-time.Duration(r.Buckets-1) * r.Width)
	bs, err := s.st.TaskActivity(ctx, &store.TaskActivityParams{Since: since, Width: r.Width, Buckets: r.Buckets})
	if err != nil {
		return nil, err
	}
	return []chart{
		barChart("throughput", "Throughput: tasks completed", "complete", bs, r, func(b store.ActivityBucket) int { return b.Completed }),
		barChart("failures", "Failures: tasks moved to error", "error", bs, r, func(b store.ActivityBucket) int { return b.Failed }),
	}, nil
}

func barChart(id, title, class string, bs []store.ActivityBucket, r activityRange, value func(store.ActivityBucket) int) chart {
	c := chart{ID: id, Title: title, Class: class, Width: chartW, Height: chartH}
	for _, b := range bs {
		n := value(b)
		c.Total += n
		c.Max = max(c.Max, n)
	}
	plot := float64(chartH - chartTop - chartAxis)
	step := float64(chartW) / float64(len(bs))
	layout := "15:04"
	if r.Width >= time.Hour {
		layout = "Jan 2 15:04"
	}
	for i, b := range bs {
		n := value(b)
		h := 0.0
		if c.Max > 0 {
			h = plot * float64(n) / float64(c.Max)
		}
		if n > 0 && h < 1 {
			h = 1 // a bucket with something in it stays visible
		}
		x := float64(i) * step
		c.Bars = append(c.Bars, chartBar{X: x + step*0.1, Y: chartTop + plot - h, W: step * 0.8, H: h, N: n,
			Title: fmt.Sprintf("%s–%s UTC: %d", b.Start.Format(layout), b.Start.Add(r.Width).Format("15:04"), n)})
		if i%(max(len(bs)/4, 1)) == 0 {
			c.Ticks = append(c.Ticks, chartTick{X: x, Label: b.Start.Format(layout)})
		}
	}
	return c
}
