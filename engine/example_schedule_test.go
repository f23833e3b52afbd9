package engine_test

import (
	"context"
	"fmt"
	"time"
	_ "time/tzdata" // the example's time zone, on machines without a zone database

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// nightlyReport is the README's schedule, verbatim (internal/readmetest
// checks that they match).
func nightlyReport(ctx context.Context, e *engine.Engine) error {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return err
	}
	// Weekdays at 03:00 in Paris. Declare it at every start-up: the same
	// definition again changes nothing; a changed one replaces it.
	_, err = e.Schedule(ctx, "nightly-report", "0 3 * * 1-5", "ops/report", "all regions", engine.ScheduleOptions{
		Location:      paris,
		Overlap:       engine.OverlapSkip, // last night's run still going: skip this one
		CatchUpWindow: 6 * time.Hour,      // down at 03:00? fire late, until 09:00
		Jitter:        time.Minute,        // spread the runs of many schedules over a minute
	})
	return err
}

// A schedule is stored with its next fire time; TriggerSchedule runs it
// now, whatever the time.
func ExampleEngine_Schedule() {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	e, err := engine.New(engine.Config{Store: s})
	if err != nil {
		panic(err)
	}
	err = engine.RegisterWorkflow(e, "ops/report", func(w *engine.WorkflowContext, scope string) (string, error) {
		return "report on " + scope, nil
	})
	if err != nil {
		panic(err)
	}
	if err := nightlyReport(ctx, e); err != nil {
		panic(err)
	}
	list, err := e.Schedules(ctx)
	if err != nil {
		panic(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	for _, sc := range list {
		next := sc.NextFireAt.In(paris)
		weekday := next.Weekday() != time.Saturday && next.Weekday() != time.Sunday
		fmt.Println(sc.ID, sc.Spec, sc.Location, sc.Overlap, "next at", next.Format("15:04"), "on a weekday:", weekday)
	}

	go e.Run(ctx) // the schedules fire while the engine runs
	defer e.Stop(ctx)
	taskID, err := e.TriggerSchedule(ctx, "nightly-report")
	if err != nil {
		panic(err)
	}
	out, err := engine.GetWorkflow[string](e, taskID).Result(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	// Output:
	// nightly-report 0 3 * * 1-5 Europe/Paris skip next at 03:00 on a weekday: true
	// report on all regions
}
