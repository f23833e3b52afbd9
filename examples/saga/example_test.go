package saga_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/saga"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store/sqlite"
)

// book is the README's snippet, verbatim (internal/readmetest checks that
// they match).
func book(ctx context.Context, e *engine.Engine) (saga.Outcome, error) {
	h, err := saga.Start(ctx, e, saga.Trip{ID: "trip-1", Traveller: "ann"})
	if err != nil {
		return saga.Outcome{}, err
	}
	return h.Result(ctx) // {Status: "compensated", FailedAt: "car", Compensated: [hotel-trip-1 flight-trip-1]}
}

// The car provider is down: the flight and the hotel are booked, the car
// fails for good after its attempts, and the workflow cancels the hotel and
// then the flight.
func Example() {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	e, err := engine.New(engine.Config{Store: s, Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	if err != nil {
		panic(err)
	}
	agency := &saga.Agency{}
	agency.Down("car")
	fast := retry.Policy{Base: 10 * time.Millisecond, Max: 10 * time.Millisecond}
	if err := saga.Register(e, saga.Options{Agency: agency, Backoff: fast}); err != nil {
		panic(err)
	}
	go e.Run(ctx)
	defer e.Stop(ctx)

	out, err := book(ctx, e)
	if err != nil {
		panic(err)
	}
	fmt.Println(out.Status, "at", out.FailedAt+":", out.Reason, out.Compensated)
	for _, entry := range agency.Log() {
		fmt.Println(entry)
	}
	// Output:
	// compensated at car: car provider unavailable [hotel-trip-1 flight-trip-1]
	// book flight-trip-1
	// book hotel-trip-1
	// cancel hotel-trip-1
	// cancel flight-trip-1
}
