// Package schedule is the machinery behind engine schedules: parsing a
// spec (a cron expression through robfig/cron/v3, seconds optional, or a
// fixed interval), the pure plan of one firing pass (which ticks to start,
// skip or buffer under the overlap policy and the catch-up window), the
// deterministic jitter and identity of a tick, and the Runner that fires
// due schedules in the one process elected for it.
//
// Exactly once: a tick's started task takes an identity derived from the
// schedule and the tick's time (Key), so the same tick started twice —
// by a leader that crashed before it recorded its progress and the one
// that took over, or by two leaders that briefly overlap — is one task.
// The schedule's row records the next unhandled tick with a compare and
// set, so a new leader resumes where the last one stopped, and ticks
// missed while no process ran are caught up within the window.
package schedule
