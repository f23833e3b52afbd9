package engine_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// intelligence is the README's preset, predictive retry and report
// example, verbatim: a production preset on SQLite, a workflow whose
// retries are weighed, a failure's diagnosis and the hour's report.
func intelligence(ctx context.Context) error {
	cfg, err := engine.Preset(engine.PresetProduction)
	if err != nil {
		return err
	}
	s, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	cfg.Store = s
	e, err := engine.New(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	err = e.HandleFunc("fetch", func(sc *engine.StepContext) (any, error) {
		if sc.Attempt == 1 {
			return nil, errors.New("rates api: 503 Service Unavailable")
		}
		return "rates", nil
	})
	if err != nil {
		return err
	}
	err = e.Register(&engine.Template{Namespace: "fx", Name: "rates", PredictiveRetry: true,
		Steps: []engine.StepTemplate{{Name: "fetch", Handler: "fetch"}}})
	if err != nil {
		return err
	}
	h, err := e.Start(ctx, "fx/rates", nil)
	if err != nil {
		return err
	}
	if _, err := e.RunOnce(ctx); err != nil { // the first attempt fails
		return err
	}
	x, err := e.Explain(ctx, h.TaskID)
	if err != nil {
		return err
	}
	step := x.Steps[0]
	fmt.Println("diagnosis:", step.Diagnosis.Rules, "-", step.Diagnosis.Insights[0])
	fmt.Println("backoff factors:", step.Backoff.ErrorClass, step.Backoff.ErrorFactor, step.Backoff.HistoryFactor)
	r, err := e.Report(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), engine.ReportFilter{})
	if err != nil {
		return err
	}
	fmt.Println("tasks this hour:", r.Summary.Tasks, "running:", r.Summary.Running)
	return nil
}

// A production preset, a failure diagnosed, a retry's delay weighed by
// the predictive retry, and the performance report.
func Example_intelligence() {
	if err := intelligence(context.Background()); err != nil {
		panic(err)
	}
	// Output:
	// diagnosis: [http_5xx] - the server failed (HTTP 503): usually passing
	// backoff factors: http_5xx 1.3 1
	// tasks this hour: 1 running: 1
}
