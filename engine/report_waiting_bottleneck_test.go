package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/testkit"
)

// A step on the critical path whose time there is mostly not its run (its
// retries' backoff, or waiting for a worker) is not to be "sped up": the
// recommendation said so of a step whose every attempt took no time and
// whose half second on the path was its retry's backoff.
func TestReportBottleneckOfWaitingIsNotToBeSpedUp(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	registerFailsOnce(t, env.Engine, "t/dur", engine.WithStepBackoff(retry.Policy{Base: time.Second, NoJitter: true}))
	env.RunUntilDone(startInts(t, env.Engine, "t/dur", 12)...)
	r, err := env.Report(context.Background(), env.Clock.Now().Add(-time.Hour), env.Clock.Now().Add(time.Minute), engine.ReportFilter{})
	must(t, err)
	found := false
	for _, rc := range r.Recommendations {
		if rc.Category != "workflow" {
			continue
		}
		found = true
		if strings.Contains(rc.Action, "speed that step up") || !strings.Contains(rc.Action, "retr") {
			t.Fatalf("recommendation %+v: the step's time on the path is its retry's backoff, not its run", rc)
		}
	}
	if !found {
		t.Fatalf("no workflow recommendation in %+v (bottlenecks %+v)", r.Recommendations, r.Bottlenecks)
	}
}
