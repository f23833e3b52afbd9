package store

import (
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// Schedule is a stored schedule: a workflow started on every tick of a
// cron spec or interval. The engine interprets Spec, Timezone, Overlap,
// CatchUpWindow and Jitter; the store keeps them and guards every write
// with a compare and set on Revision.
type Schedule struct {
	bun.BaseModel `bun:"table:tasker_schedules,alias:sc"`

	ID            string        `bun:"id,pk" json:"id"`
	Workflow      string        `bun:"workflow,notnull" json:"workflow"`
	Spec          string        `bun:"spec,notnull" json:"spec"`
	Timezone      string        `bun:"timezone,notnull" json:"timezone"`
	Input         JSON          `bun:"input,type:text,notnull" json:"input"`
	Overlap       string        `bun:"overlap,notnull" json:"overlap"`
	CatchUpWindow time.Duration `bun:"catch_up_window,notnull" json:"catch_up_window"`
	Jitter        time.Duration `bun:"jitter,notnull" json:"jitter"`
	Paused        bool          `bun:"paused,notnull" json:"paused"`
	// NextFireAt is the earliest tick not yet handled.
	NextFireAt time.Time `bun:"next_fire_at,notnull" json:"next_fire_at"`
	// BufferedAt is a tick held back until the previous run ends.
	BufferedAt *time.Time `bun:"buffered_at" json:"buffered_at"`
	// TriggerAt is when a run was asked for by hand that the leader has
	// not started yet.
	TriggerAt  *time.Time `bun:"trigger_at" json:"trigger_at"`
	LastFireAt *time.Time `bun:"last_fire_at" json:"last_fire_at"`
	LastTaskID *int64     `bun:"last_task_id" json:"last_task_id"`
	// LastError is why the last firing failed ("" after a success).
	LastError string    `bun:"last_error,notnull" json:"last_error"`
	Revision  int64     `bun:"revision,notnull" json:"revision"`
	CreatedAt time.Time `bun:"created_at,notnull" json:"created_at"`
	UpdatedAt time.Time `bun:"updated_at,notnull" json:"updated_at"`
}

// Validate checks the names, the input and the durations.
func (s *Schedule) Validate() error {
	if s == nil {
		return errNilParams()
	}
	var errs []error
	if s.Spec == "" {
		errs = append(errs, invalid("spec", "is required"))
	}
	if s.CatchUpWindow < 0 {
		errs = append(errs, invalid("catch_up_window", "must not be negative, got %s", s.CatchUpWindow))
	}
	if s.Jitter < 0 {
		errs = append(errs, invalid("jitter", "must not be negative, got %s", s.Jitter))
	}
	if s.NextFireAt.IsZero() {
		errs = append(errs, invalid("next_fire_at", "is required"))
	}
	if len(s.Input) == 0 {
		errs = append(errs, invalid("input", "is required"))
	}
	return errors.Join(append(errs, checkName("id", s.ID, true), checkName("workflow", s.Workflow, true),
		checkName("spec", s.Spec, false), checkName("timezone", s.Timezone, false), checkName("overlap", s.Overlap, true),
		checkName("last_error", s.LastError, false), checkJSON("input", s.Input, false))...)
}
