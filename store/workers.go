package store

import (
	"errors"
	"fmt"
	"time"
)

// Worker is one running engine as the registry records it: who it is, what
// it serves, and until when it counts as alive. An engine upserts its row
// when it starts running, refreshes it with every lease heartbeat and
// deletes it when it stops; a row whose ExpiresAt has passed belongs to a
// worker that stopped without saying so (a crash, a kill -9).
type Worker struct {
	ID string `json:"id"` // the engine's WorkerID (default host-pid)
	// Queues are the queues the worker claims from.
	Queues []string `json:"queues"`
	// Handlers are the handler names it runs: DAG step handlers and
	// code-first drivers ("workflow:namespace/name").
	Handlers    []string  `json:"handlers"`
	Version     string    `json:"version"`     // the application's build, from the engine's Config; "" when it has none
	Concurrency int       `json:"concurrency"` // the most handlers it runs at once
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// Serves reports whether the worker runs handler.
func (w *Worker) Serves(handler string) bool {
	for _, h := range w.Handlers {
		if h == handler {
			return true
		}
	}
	return false
}

// Live reports whether the worker's row had not expired at now.
func (w *Worker) Live(now time.Time) bool { return now.Before(w.ExpiresAt) }

// RegisterWorkerParams describe a worker to record, or to refresh: the row
// for ID is inserted or replaced, its heartbeat set to Now and its expiry
// to Now+TTL.
type RegisterWorkerParams struct {
	ID          string
	Queues      []string
	Handlers    []string
	Version     string
	Concurrency int
	// StartedAt is when the worker started (zero: Now; not after Now). It
	// tells one run of a worker from another under the same ID: a
	// registration with a StartedAt does not replace a live row recorded
	// with another one (two processes given one ID, the other registered
	// last) and is refused with ErrConflict, changing nothing. One
	// without (a worker starting: Now) replaces any row, so a process
	// restarted under its ID takes over its predecessor's record.
	StartedAt time.Time
	// TTL is how long the row counts as alive without another refresh.
	TTL time.Duration
	Now time.Time
}

// MaxWorkerNames bounds the queues and the handlers one worker records.
const MaxWorkerNames = 10_000

// Validate reports every problem with p at once.
func (p *RegisterWorkerParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	errs := []error{checkName("id", p.ID, true), checkName("version", p.Version, false)}
	if p.Concurrency < 0 {
		errs = append(errs, invalid("concurrency", "must not be negative, got %d", p.Concurrency))
	}
	if p.TTL <= 0 {
		errs = append(errs, invalid("ttl", "must be positive, got %s", p.TTL))
	}
	if !p.StartedAt.IsZero() && !p.Now.IsZero() && p.StartedAt.After(p.Now) {
		errs = append(errs, invalid("started_at", "is after now (%s), got %s", p.Now.Format(time.RFC3339Nano), p.StartedAt.Format(time.RFC3339Nano)))
	}
	// In this order (a slice, not a map: the joined error reads the same
	// every time).
	for _, list := range []struct {
		field string
		names []string
	}{{"queues", p.Queues}, {"handlers", p.Handlers}} {
		field, names := list.field, list.names
		if len(names) > MaxWorkerNames {
			errs = append(errs, invalid(field, "has %d names; the limit is %d", len(names), MaxWorkerNames))
			continue
		}
		seen := make(map[string]bool, len(names))
		for i, n := range names {
			f := fmt.Sprintf("%s[%d]", field, i)
			errs = append(errs, checkName(f, n, true))
			if seen[n] {
				errs = append(errs, invalid(f, "%q is listed twice", n))
			}
			seen[n] = true
		}
	}
	return errors.Join(errs...)
}

// DeregisterWorkerParams name the worker whose row to delete.
type DeregisterWorkerParams struct {
	ID string
	// StartedAt, when set, deletes the row only if it records this start
	// (see RegisterWorkerParams.StartedAt): a worker stopping leaves the
	// row of another process registered under its ID since.
	StartedAt time.Time
}

// Validate checks p.
func (p *DeregisterWorkerParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	return checkName("id", p.ID, true)
}

// ListWorkersParams filter the registry.
type ListWorkersParams struct {
	// Now is the time liveness is judged at (zero: the database's clock).
	Now time.Time
	// IncludeExpired also lists workers whose rows expired within
	// WorkerRetention (RegisterWorker deletes older ones).
	IncludeExpired bool
}

// Validate checks p: a nil p is refused (the zero value lists the live
// workers by the database's clock).
func (p *ListWorkersParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	return nil
}

// WorkerRetention is how long an expired worker row is kept (listed with
// ListWorkersParams.IncludeExpired) before a registration deletes it.
const WorkerRetention = 24 * time.Hour
