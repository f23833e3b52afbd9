package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/engine/internal/schedule"
	"github.com/tasker-go/tasker/store"
)

// Schedules lists every schedule by id, with its next fire time.
func (e *Engine) Schedules(ctx context.Context) ([]ScheduleInfo, error) {
	list, err := e.st.ListSchedules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ScheduleInfo, len(list))
	for i, sc := range list {
		out[i] = *e.decodedScheduleInfo(sc)
	}
	return out, nil
}

// GetSchedule returns one schedule, or an error wrapping store.ErrNotFound.
func (e *Engine) GetSchedule(ctx context.Context, id string) (*ScheduleInfo, error) {
	sc, err := e.st.GetSchedule(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.decodedScheduleInfo(sc), nil
}

// decodedScheduleInfo is a stored schedule's info, its input decoded
// (Config.Codec). One this engine cannot decode is shown as stored, as
// the CLI shows it: an engine without the codec (the CLI's) still lists
// and operates schedules; their runs' starts decode it or fail.
func (e *Engine) decodedScheduleInfo(sc *store.Schedule) *ScheduleInfo {
	in := scheduleInfo(sc)
	if doc, err := e.decode(sc.Input); err == nil {
		in.Input = json.RawMessage(doc)
	}
	return in
}

// PauseSchedule stops a schedule's ticks until ResumeSchedule; a run it
// started goes on. Pausing a paused schedule changes nothing.
func (e *Engine) PauseSchedule(ctx context.Context, id string) error {
	return e.changeSchedule(ctx, id, "pausing", func(sc *store.Schedule) bool {
		if sc.Paused {
			return false
		}
		sc.Paused = true
		return true
	})
}

// ResumeSchedule resumes a paused schedule from its next tick after now:
// ticks that came while it was paused do not fire, nor does a tick
// OverlapBufferOne held when it was paused. Resuming a schedule that is
// not paused changes nothing.
//
// A schedule whose stored spec no longer parses here (its zone missing
// from this machine's time zone database) or fires no more stays paused,
// and the error says why.
func (e *Engine) ResumeSchedule(ctx context.Context, id string) error {
	var why error
	err := e.changeSchedule(ctx, id, "resuming", func(sc *store.Schedule) bool {
		if !sc.Paused {
			return false
		}
		spec, err := schedule.Parse(sc.Spec, sc.Timezone)
		if err != nil {
			why = fmt.Errorf("resuming schedule %q: %w: %w", id, ErrInvalidSchedule, err)
			return false
		}
		next := spec.Next(e.clk.Now())
		if next.IsZero() {
			why = fmt.Errorf("resuming schedule %q: %w: %q fires no more", id, ErrInvalidSchedule, sc.Spec)
			return false
		}
		sc.Paused, sc.NextFireAt, sc.BufferedAt, sc.LastError = false, next, nil, ""
		return true
	})
	if err != nil {
		return err
	}
	return why
}

// TriggerSchedule asks for a run of the schedule now, paused or not; the
// overlap policy does not apply (it is the operator's decision) and the
// ticks go on as before. When this engine has the workflow registered it
// starts the run itself and returns its task; otherwise (a CLI, an admin
// process) the request is stored and the schedules' leader starts it on
// its next pass, and the task is 0 — GetSchedule's LastTaskID tells it
// then. A request the leader has not started yet is not doubled. A run
// this engine refuses to start is an error, and leaves no request behind
// (a start interrupted by ctx leaves it to the leader).
func (e *Engine) TriggerSchedule(ctx context.Context, id string) (int64, error) {
	var at time.Time
	var sc *store.Schedule
	asked := false // the request is this call's (not one still waiting)
	err := e.changeSchedule(ctx, id, "triggering", func(s *store.Schedule) bool {
		sc = s
		if s.TriggerAt != nil {
			at, asked = *s.TriggerAt, false
			return false
		}
		// The store keeps times to the microsecond: the run's identity,
		// made of at here and of the stored time by the leader, must be
		// one, or the leader starts a second run.
		at, asked = e.clk.Now().Truncate(time.Microsecond), true
		s.TriggerAt = &at
		return true
	})
	if err != nil {
		return 0, err
	}
	if !e.canStart(sc.Workflow) {
		return 0, nil
	}
	taskID, err := e.startScheduled(ctx, sc, schedule.TriggerKey(id, at), time.Time{})
	if err != nil {
		err = fmt.Errorf("triggering schedule %q: %w", id, err)
		if asked && ctx.Err() == nil {
			// Refused, it asks for nothing: the leader, another process,
			// would start the run the caller is told failed. (Interrupted,
			// the run may have been created: the leader settles it, its
			// key finding that run.)
			err = errors.Join(err, e.changeSchedule(context.WithoutCancel(ctx), id, "withdrawing the trigger of", func(s *store.Schedule) bool {
				if s.TriggerAt == nil || !s.TriggerAt.Equal(at) {
					return false // the leader took it meanwhile
				}
				s.TriggerAt = nil
				return true
			}))
		}
		return 0, err
	}
	return taskID, nil
}

// canStart reports whether workflow is registered here.
func (e *Engine) canStart(workflow string) bool {
	if _, ok := e.workflowDef(workflow); ok {
		return true
	}
	_, err := e.template(workflow)
	return err == nil
}

// DeleteSchedule deletes a schedule; the runs it started go on. An
// unknown id is an error wrapping store.ErrNotFound.
func (e *Engine) DeleteSchedule(ctx context.Context, id string) error {
	return e.st.DeleteSchedule(ctx, id)
}

// changeSchedule applies change to the stored schedule (compare and set,
// retried when the leader wrote meanwhile); change reports whether it
// changed anything.
func (e *Engine) changeSchedule(ctx context.Context, id, action string, change func(*store.Schedule) bool) error {
	for {
		sc, err := e.st.GetSchedule(ctx, id)
		if err != nil {
			return fmt.Errorf("%s schedule %q: %w", action, id, err)
		}
		if !change(sc) {
			return nil
		}
		sc.UpdatedAt = e.clk.Now()
		ok, err := e.st.UpdateSchedule(ctx, sc)
		if err != nil {
			return fmt.Errorf("%s schedule %q: %w", action, id, err)
		}
		if ok {
			e.sched.Wake()
			return nil
		}
	}
}

// startScheduled is the Runner's Start: the schedule's workflow with the
// stored input under key, not before at (zero or past: at once).
func (e *Engine) startScheduled(ctx context.Context, sc *store.Schedule, key string, at time.Time) (int64, error) {
	opts := []StartOption{WithIdempotencyKey(key)}
	if at.After(e.clk.Now()) {
		opts = append(opts, StartAt(at))
	}
	doc, err := e.decode(sc.Input) // stored encoded (Config.Codec)
	if err != nil {
		return 0, fmt.Errorf("input: %w", err)
	}
	in := json.RawMessage(doc)
	if _, ok := e.workflowDef(sc.Workflow); ok {
		s, err := e.startWorkflow(ctx, sc.Workflow, in, opts...)
		return s.id, err
	}
	h, err := e.Start(ctx, sc.Workflow, in, opts...)
	if err != nil {
		return 0, err
	}
	return h.TaskID, nil
}

// scheduledRunning is the Runner's Running: whether a run has not
// finished (a deleted one has), following its ContinueAsNew chain (a run
// that continued as new goes on in the next), and the task that carries
// it now.
func (e *Engine) scheduledRunning(ctx context.Context, taskID int64) (int64, bool, error) {
	for {
		d, err := e.st.GetTask(ctx, taskID)
		if errors.Is(err, store.ErrNotFound) {
			return taskID, false, nil
		}
		if err != nil {
			return taskID, false, err
		}
		if !d.Task.State.Done() {
			return taskID, true, nil
		}
		next, err := e.continuedAsOf(d)
		if err != nil || next == 0 {
			return taskID, false, err
		}
		taskID = next
	}
}

// cancelScheduled is the Runner's Cancel (OverlapCancelPrevious): a run
// that finished meanwhile needs none.
func (e *Engine) cancelScheduled(ctx context.Context, taskID int64) error {
	err := e.Cancel(ctx, taskID, "schedule: cancelled by the next run (OverlapCancelPrevious)")
	if err == nil {
		return nil
	}
	if _, running, rerr := e.scheduledRunning(ctx, taskID); rerr == nil && !running {
		return nil
	}
	return err
}

// FireSchedules runs one firing pass now: every due schedule starts the
// runs of its ticks up to the clock's time. A running engine does this on
// its own (in the process that leads the schedules); tests that move a
// fake clock, and tools, call it directly. It is safe alongside the
// leader: a tick started twice is one task.
func (e *Engine) FireSchedules(ctx context.Context) error {
	_, err := e.sched.Pass(ctx)
	return err
}
