package saga_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/examples/saga"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// The failure injected at each service in turn: what was booked before it
// is cancelled in reverse order, the workflow completes "compensated", and
// its recorded history replays.
func TestSagaCompensatesInReverse(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		down        string
		status      string
		log         string
		compensated []string
	}{
		{"", "booked", "book flight-T|book hotel-T|book car-T", nil},
		{"flight", "compensated", "", nil},
		{"hotel", "compensated", "book flight-T|cancel flight-T", []string{"flight-T"}},
		{"car", "compensated", "book flight-T|book hotel-T|cancel hotel-T|cancel flight-T", []string{"hotel-T", "flight-T"}},
	}
	for _, tc := range cases {
		t.Run("down="+cmpOr(tc.down, "none"), func(t *testing.T) {
			env := testkit.NewEngine(t, &testkit.Options{File: true})
			agency := &saga.Agency{}
			if tc.down != "" {
				agency.Down(tc.down)
			}
			if err := saga.Register(env.Engine, saga.Options{Agency: agency}); err != nil {
				t.Fatal(err)
			}
			h, err := saga.Start(ctx, env.Engine, saga.Trip{ID: "T", Traveller: "ann"})
			if err != nil {
				t.Fatal(err)
			}
			env.RunUntilDone(h.TaskID)
			out, err := h.Result(ctx)
			if err != nil {
				t.Fatalf("the workflow failed: %v", err)
			}
			if out.Status != tc.status || out.FailedAt != tc.down || !slices.Equal(out.Compensated, tc.compensated) {
				t.Fatalf("outcome %+v", out)
			}
			if tc.down != "" && !strings.Contains(out.Reason, tc.down+" provider unavailable") {
				t.Fatalf("reason %q", out.Reason)
			}
			if got := strings.Join(agency.Log(), "|"); got != tc.log {
				t.Fatalf("agency log %q, want %q", got, tc.log)
			}
			// The failed booking took its three attempts and stays recorded
			// as failed; the task itself completed.
			for _, s := range env.DurableSteps(h.TaskID) {
				if s.Name == "book-"+tc.down && (s.State != store.StepError || s.Attempts != 3) {
					t.Fatalf("failed booking recorded as %s after %d attempts", s.State, s.Attempts)
				}
			}
			if st := env.Task(h.TaskID).Task.State; st != store.TaskComplete {
				t.Fatalf("task %s", st)
			}
			testkit.Replay(t, env.Engine, h.TaskID)
		})
	}
}

// A provider that recovers within the attempts books normally.
func TestSagaRetriesBeforeCompensating(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	agency := &saga.Agency{}
	agency.Down("hotel")
	if err := saga.Register(env.Engine, saga.Options{Agency: agency}); err != nil {
		t.Fatal(err)
	}
	h, err := saga.Start(ctx, env.Engine, saga.Trip{ID: "R"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.RunOnce(ctx); err != nil { // flight booked, hotel's first attempt failed
		t.Fatal(err)
	}
	steps := env.DurableSteps(h.TaskID)
	if len(steps) != 2 || steps[1].Name != "book-hotel" || steps[1].State != store.StepPending || steps[1].Attempts != 1 {
		t.Fatalf("durable steps after one run %+v", steps)
	}
	agency.Up("hotel")
	env.RunUntilDone(h.TaskID)
	out, err := h.Result(ctx)
	if err != nil || out.Status != "booked" || fmt.Sprint(out.Bookings) != "[flight-R hotel-R car-R]" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
}

// A second start of the same trip finds the first workflow.
func TestSagaStartIsIdempotent(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	if err := saga.Register(env.Engine, saga.Options{}); err != nil {
		t.Fatal(err)
	}
	a, err := saga.Start(ctx, env.Engine, saga.Trip{ID: "same"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := saga.Start(ctx, env.Engine, saga.Trip{ID: "same"})
	if err != nil || !b.Existing || b.TaskID != a.TaskID {
		t.Fatalf("second start: %+v, %v", b, err)
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// A failure injected into a service the agency does not have is refused
// where it is made. Before, Down("cars") failed nothing and the trip was
// booked.
func TestAgencyRefusesAnUnknownService(t *testing.T) {
	for name, f := range map[string]func(*saga.Agency){
		"Down": func(a *saga.Agency) { a.Down("cars") },
		"Up":   func(a *saga.Agency) { a.Up("cars") },
	} {
		got := func() (msg any) {
			defer func() { msg = recover() }()
			f(&saga.Agency{})
			return nil
		}()
		if want := fmt.Sprintf(`saga.Agency.%s: no service "cars" (services: flight, hotel, car)`, name); got != want {
			t.Errorf("%s(\"cars\") panicked with %v, want %q", name, got, want)
		}
	}
}

// A negative number of attempts is refused by Register. Before, it became
// the default 3 without a word.
func TestRegisterRefusesNegativeAttempts(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	err := saga.Register(env.Engine, saga.Options{Attempts: -1})
	if want := "saga.Register: Options.Attempts -1 is negative"; err == nil || err.Error() != want {
		t.Fatalf("Register: %v, want %q", err, want)
	}
}

// One attempt per booking is a trip that books, or compensates at the
// first failure, without retrying. Before, the default backoff was given
// to steps making one attempt, which the engine refuses, and every trip
// failed at its first booking.
func TestSagaOneAttempt(t *testing.T) {
	ctx := context.Background()
	for _, down := range []string{"", "hotel"} {
		env := testkit.NewEngine(t, nil)
		agency := &saga.Agency{}
		if down != "" {
			agency.Down(down)
		}
		if err := saga.Register(env.Engine, saga.Options{Agency: agency, Attempts: 1}); err != nil {
			t.Fatal(err)
		}
		h, err := saga.Start(ctx, env.Engine, saga.Trip{ID: "T", Traveller: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		env.RunUntilDone(h.TaskID)
		out, err := h.Result(ctx)
		if err != nil {
			t.Fatalf("down=%q: the workflow failed: %v", down, err)
		}
		if want := map[string]string{"": "booked", "hotel": "compensated"}[down]; out.Status != want {
			t.Fatalf("down=%q: status %q, want %q", down, out.Status, want)
		}
		for _, s := range env.DurableSteps(h.TaskID) {
			if s.Attempts != 1 {
				t.Fatalf("down=%q: step %s made %d attempts, want 1", down, s.Name, s.Attempts)
			}
		}
	}
}

// A backoff that cannot be used is refused by Register, naming it: a bare
// number of nanoseconds, or a backoff beside one attempt (no retry to wait
// for). Before, Register took it and every trip failed at its first
// booking.
func TestRegisterRefusesAnUnusableBackoff(t *testing.T) {
	for _, c := range []struct {
		o    saga.Options
		want string
	}{
		{saga.Options{Backoff: retry.Policy{Base: 2}}, "saga.Register: Options.Backoff: retry base 2ns is under a millisecond"},
		{saga.Options{Attempts: 1, Backoff: retry.Policy{Base: time.Second}}, "saga.Register: Options.Backoff with Options.Attempts 1: a booking is not retried, so there is no backoff to wait"},
		{saga.Options{Attempts: store.MaxCount + 1}, "saga.Register: Options.Attempts 2147483648 is above 2147483647 (store.MaxCount)"},
	} {
		env := testkit.NewEngine(t, nil)
		err := saga.Register(env.Engine, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Register(%+v): %v, want %q", c.o, err, c.want)
		}
		if h := env.Handlers(); len(h) != 0 {
			t.Errorf("Register(%+v) refused, but registered %v", c.o, h)
		}
	}
}

// A trip without an ID is refused by Start, naming the field: the ID keys
// the workflow. Before, the engine refused it with advice about
// WithIdempotencyKey, an option the caller never gave.
func TestStartRefusesATripWithoutID(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	if err := saga.Register(env.Engine, saga.Options{}); err != nil {
		t.Fatal(err)
	}
	_, err := saga.Start(context.Background(), env.Engine, saga.Trip{Traveller: "ann"})
	if want := "saga.Start: Trip.ID is empty: it keys the workflow (a second start of the same trip finds the first)"; err == nil || err.Error() != want {
		t.Fatalf("Start: %v, want %q", err, want)
	}
}
