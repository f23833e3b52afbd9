package engine

import (
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine/internal/completer"
	"github.com/tasker-go/tasker/store"
)

// TestMetricsHotPathAllocatesNothing: once a workflow, step and outcome
// have been seen, observing an attempt and counting a retry or an ended
// task allocate nothing (no label slice or map per step).
func TestMetricsHotPathAllocatesNothing(t *testing.T) {
	m := NewMetrics()
	c := &store.ClaimedStep{Step: &store.Step{Name: "charge"}, Task: &store.Task{Namespace: "shop", Name: "order"}}
	o := &completer.Outcome{}
	o.Kind = store.OutcomeComplete
	observe := func() {
		m.stepAttempt(c, o, true, time.Millisecond)
		m.retried("shop", "order")
		m.taskEnded("shop", "order", false)
		m.claimTransaction()
		m.finishTransaction()
	}
	observe() // the first sight of each label value makes its child
	if n := testing.AllocsPerRun(100, observe); n != 0 {
		t.Fatalf("%v allocations per observation, want 0", n)
	}
	var nilMetrics *Metrics
	if n := testing.AllocsPerRun(100, func() { nilMetrics.stepAttempt(c, o, true, time.Millisecond) }); n != 0 {
		t.Fatalf("disabled metrics allocate %v per observation", n)
	}
}

func BenchmarkMetricsStepAttempt(b *testing.B) {
	m := NewMetrics()
	c := &store.ClaimedStep{Step: &store.Step{Name: "charge"}, Task: &store.Task{Namespace: "shop", Name: "order"}}
	o := &completer.Outcome{}
	o.Kind = store.OutcomeComplete
	b.ReportAllocs()
	for b.Loop() {
		m.stepAttempt(c, o, true, time.Millisecond)
	}
}
