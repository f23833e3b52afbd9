package store

import (
	"errors"
	"time"
)

// ReportParams select what a performance report covers: the tasks
// created in [From, To), of one namespace (and one workflow name) when
// set. Counts are exact; Tasks, Steps and Edges are a sample of the Sample
// most recent tasks (default 1000).
type ReportParams struct {
	From, To  time.Time
	Namespace string
	Name      string // needs Namespace
	Sample    int
}

// DefaultReportSample is ReportParams.Sample's default.
const DefaultReportSample = 1000

// ReportData is what a performance report is computed from.
type ReportData struct {
	Counts []ReportCount
	Tasks  []ReportTask
	Steps  []ReportStep // of the sampled tasks
	Edges  []Edge       // of the sampled tasks
}

// ReportCount is how many tasks of a workflow are in a state.
type ReportCount struct {
	Namespace string    `bun:"namespace"`
	Name      string    `bun:"name"`
	State     TaskState `bun:"state"`
	Count     int       `bun:"n"`
}

// ReportTask is a sampled task.
type ReportTask struct {
	ID          int64      `bun:"id"`
	Namespace   string     `bun:"namespace"`
	Name        string     `bun:"name"`
	State       TaskState  `bun:"state"`
	Kind        Kind       `bun:"kind"`
	CreatedAt   time.Time  `bun:"created_at"`
	CompletedAt *time.Time `bun:"completed_at"`
}

// ReportStep is a step of a sampled task. StartedAt is its last
// attempt's start. Handler tells a code-first task's waits (a sleep, an
// event, a child: their rows are written complete when the wait ends,
// StartedAt then) from its steps: a wait lasts from CreatedAt, when it
// began.
type ReportStep struct {
	ID          int64      `bun:"id"`
	TaskID      int64      `bun:"task_id"`
	Name        string     `bun:"name"`
	Handler     string     `bun:"handler"`
	State       StepState  `bun:"state"`
	Attempts    int        `bun:"attempts"`
	CreatedAt   time.Time  `bun:"created_at"`
	StartedAt   *time.Time `bun:"started_at"`
	CompletedAt *time.Time `bun:"completed_at"`
}

// Validate reports every problem with p at once.
func (p *ReportParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	if p.From.IsZero() || p.To.IsZero() {
		errs = append(errs, invalid("from", "from and to are required"))
	} else if !p.From.Before(p.To) {
		errs = append(errs, invalid("to", "must be after from (%s), got %s", p.From.Format(time.RFC3339), p.To.Format(time.RFC3339)))
	}
	if p.Name != "" && p.Namespace == "" {
		errs = append(errs, invalid("name", "needs a namespace"))
	}
	if p.Sample < 0 {
		errs = append(errs, invalid("sample", "must not be negative, got %d", p.Sample))
	}
	// Names no task can have are refused: bun quotes a value that is not
	// valid UTF-8 into SQL neither database parses.
	return errors.Join(append(errs, checkName("namespace", p.Namespace, false), checkName("name", p.Name, false))...)
}
