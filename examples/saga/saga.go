// Package saga is a code-first trip booking with compensation: it books a
// flight, a hotel and a car, each a durable step against its own provider;
// when one fails for good, the workflow catches the failure
// (*engine.StepFailedError) and cancels what it had booked, in reverse
// order, each cancellation a durable step of its own. The workflow then
// completes with the outcome "compensated": a failure it handled does not
// fail it.
//
//	agency := &saga.Agency{}
//	saga.Register(e, saga.Options{Agency: agency})
//	h, _ := saga.Start(ctx, e, saga.Trip{ID: "trip-1", Traveller: "ann"})
//	out, _ := h.Result(ctx) // Outcome{Status: "booked", ...}
package saga

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
)

// Workflow is the registered name.
const Workflow = "travel/trip"

// Services are what a trip books, in booking order.
var Services = []string{"flight", "hotel", "car"}

// Trip is the workflow's input.
type Trip struct {
	ID        string `json:"id"`
	Traveller string `json:"traveller"`
}

// Outcome is the workflow's result.
type Outcome struct {
	Status      string   `json:"status"` // "booked" or "compensated"
	Bookings    []string `json:"bookings,omitempty"`
	FailedAt    string   `json:"failed_at,omitempty"`   // the service that failed
	Reason      string   `json:"reason,omitempty"`      // its recorded failure
	Compensated []string `json:"compensated,omitempty"` // cancelled bookings, in order
}

// Agency is an in-memory stand-in for the providers: bookings and
// cancellations keyed by the step's idempotency key, so a step that runs
// again after a crash books once. Down marks a service as failing.
type Agency struct {
	mu       sync.Mutex
	down     map[string]bool
	seen     map[string]bool
	log      []string
	bookings map[string]string
}

// Down makes every booking of service fail until Up. A service not among
// Services panics: a misspelt one would fail nothing, and the test that
// injected the failure would see the trip booked.
func (a *Agency) Down(service string) {
	mustBeService("Down", service)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down == nil {
		a.down = map[string]bool{}
	}
	a.down[service] = true
}

// Up ends Down (a service not among Services panics, as for Down).
func (a *Agency) Up(service string) {
	mustBeService("Up", service)
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.down, service)
}

func mustBeService(method, service string) {
	if !slices.Contains(Services, service) {
		panic(fmt.Sprintf("saga.Agency.%s: no service %q (services: %s)", method, service, strings.Join(Services, ", ")))
	}
}

// Book books service for trip once per key and returns the booking id.
func (a *Agency) Book(key, service string, t Trip) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down[service] {
		return "", fmt.Errorf("%s provider unavailable", service)
	}
	if a.bookings == nil {
		a.bookings, a.seen = map[string]string{}, map[string]bool{}
	}
	if id, ok := a.bookings[key]; ok {
		return id, nil
	}
	id := service + "-" + t.ID
	a.bookings[key] = id
	a.log = append(a.log, "book "+id)
	return id, nil
}

// Cancel cancels a booking once per key.
func (a *Agency) Cancel(key, booking string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil {
		a.bookings, a.seen = map[string]string{}, map[string]bool{}
	}
	if a.seen[key] {
		return
	}
	a.seen[key] = true
	a.log = append(a.log, "cancel "+booking)
}

// Log lists bookings and cancellations in the order they happened.
func (a *Agency) Log() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.log)
}

// Options configure Register.
type Options struct {
	Agency   *Agency      // default: a fresh in-memory agency
	Attempts int          // attempts per booking (default 3)
	Backoff  retry.Policy // between attempts (default one second)
}

// Register registers the workflow on e. A negative Options.Attempts, or
// one above store.MaxCount, is refused, and so is a Backoff the engine
// would refuse (see retry.Policy.Validate) or one given with Attempts 1:
// each would fail every trip at its first booking.
func Register(e *engine.Engine, o Options) error {
	if o.Attempts < 0 {
		return fmt.Errorf("saga.Register: Options.Attempts %d is negative", o.Attempts)
	}
	if o.Attempts > store.MaxCount {
		return fmt.Errorf("saga.Register: Options.Attempts %d is above %d (store.MaxCount)", o.Attempts, store.MaxCount)
	}
	if err := o.Backoff.Validate(); err != nil {
		return fmt.Errorf("saga.Register: Options.Backoff: %w", err)
	}
	if o.Attempts == 1 && o.Backoff != (retry.Policy{}) {
		return fmt.Errorf("saga.Register: Options.Backoff with Options.Attempts 1: a booking is not retried, so there is no backoff to wait")
	}
	if o.Agency == nil {
		o.Agency = &Agency{}
	}
	if o.Attempts == 0 {
		o.Attempts = 3
	}
	// One attempt has no retry to wait for: the engine refuses a backoff
	// on such a step (WithStepBackoff).
	stepOpts := []engine.StepOption{engine.WithStepRetryLimit(o.Attempts)}
	if o.Attempts > 1 {
		if o.Backoff == (retry.Policy{}) {
			o.Backoff = retry.Policy{Base: time.Second, Max: time.Second}
		}
		stepOpts = append(stepOpts, engine.WithStepBackoff(o.Backoff))
	}
	a := o.Agency
	return engine.RegisterWorkflow(e, Workflow, func(wctx *engine.WorkflowContext, t Trip) (Outcome, error) {
		var booked []string
		for _, service := range Services {
			id, err := engine.Step(wctx, "book-"+service, func(ctx context.Context) (string, error) {
				info, _ := engine.StepInfoFrom(ctx)
				return a.Book(info.IdempotencyKey, service, t)
			}, stepOpts...)
			var failed *engine.StepFailedError
			if errors.As(err, &failed) {
				return compensate(wctx, a, booked, service, failed)
			}
			if err != nil {
				return Outcome{}, err // suspended, cancelled: not a failure to handle
			}
			booked = append(booked, id)
		}
		return Outcome{Status: "booked", Bookings: booked}, nil
	})
}

// compensate cancels booked in reverse order, each as a durable step: a
// crash part way resumes with the cancellations not yet recorded.
func compensate(wctx *engine.WorkflowContext, a *Agency, booked []string, service string, failed *engine.StepFailedError) (Outcome, error) {
	out := Outcome{Status: "compensated", FailedAt: service, Reason: failed.Failure.Message}
	for _, id := range slices.Backward(booked) {
		if _, err := engine.Step(wctx, "cancel-"+id, func(ctx context.Context) (bool, error) {
			info, _ := engine.StepInfoFrom(ctx)
			a.Cancel(info.IdempotencyKey, id)
			return true, nil
		}); err != nil {
			return Outcome{}, err // a cancellation that fails for good fails the workflow, for an operator
		}
		out.Compensated = append(out.Compensated, id)
	}
	return out, nil
}

// Start starts the workflow for a trip; starting the same trip ID again
// returns the first workflow. A trip without an ID is refused.
func Start(ctx context.Context, e *engine.Engine, t Trip) (*engine.WorkflowHandle[Outcome], error) {
	if t.ID == "" {
		return nil, errors.New("saga.Start: Trip.ID is empty: it keys the workflow (a second start of the same trip finds the first)")
	}
	return engine.StartWorkflow[Trip, Outcome](ctx, e, Workflow, t, engine.WithIdempotencyKey(t.ID))
}
