package storetest

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testRescueRacesCompletion races a completion against the rescue of the
// same lease as it expires, many times: exactly one wins each round — the
// step is complete and nothing was rescued, or it was rescued and the
// completion refused (ErrLeaseLost) — and the history agrees.
func testRescueRacesCompletion(t *testing.T, b *bundle) {
	const rounds = 40
	expiry := b.now.Add(time.Second + time.Millisecond)
	finished, rescued := 0, 0
	var tasks []int64
	for i := range rounds {
		// A step of its own each round, the only one in progress.
		handler := "h" + strconv.Itoa(i)
		task := b.create(t, []store.NewStep{{Name: "s", Handler: handler, Retryable: true, RetryLimit: 5}})
		tasks = append(tasks, task.Task.ID)
		claimed, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "slow", Limit: 1, LeaseTTL: time.Second, Handlers: []string{handler}, Now: b.now})
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claimed %d: %v", len(claimed), err)
		}
		c := claimed[0]
		var wg sync.WaitGroup
		var fin *store.FinishStepsResult
		var finErr, resErr error
		gate := make(chan struct{})
		wg.Go(func() {
			<-gate
			fin, finErr = b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{complete(c, `{"by":"slow"}`)}, Now: expiry})
		})
		wg.Go(func() {
			<-gate
			_, resErr = b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: expiry})
		})
		close(gate) // both at once
		wg.Wait()
		if finErr != nil || resErr != nil {
			if errors.Is(finErr, store.ErrRetryable) || errors.Is(resErr, store.ErrRetryable) {
				t.Logf("a transient conflict (retried by callers): finish %v, rescue %v", finErr, resErr)
			} else {
				t.Fatalf("finish: %v; rescue: %v", finErr, resErr)
			}
		}
		st, err := b.s.GetStep(b.ctx, c.Step.ID)
		if err != nil {
			t.Fatal(err)
		}
		won := finErr == nil && fin.Steps[0].Err == nil
		switch {
		case won && st.State == store.StepComplete:
			finished++
		case !won && st.State == store.StepPending:
			rescued++
		case !won && st.State == store.StepInProgress && finErr != nil:
			// Both calls failed transiently this round: nothing moved.
		default:
			t.Fatalf("step %s: completion won %v (%v / %v) but the step is %s", c.Step.Name, won, finErr, fin, st.State)
		}
	}
	moves := map[int64][]string{}
	for _, id := range tasks {
		h, err := b.s.History(b.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range h.Steps {
			moves[tr.StepID] = append(moves[tr.StepID], tr.ToState)
		}
	}
	for id, m := range moves {
		complete, pending := 0, 0
		for _, to := range m {
			switch store.StepState(to) {
			case store.StepComplete:
				complete++
			case store.StepPending:
				pending++
			}
		}
		if complete > 0 && pending > 0 {
			t.Fatalf("step %d was both completed and rescued: %v", id, m)
		}
	}
	t.Logf("%d rounds: completion won %d, rescue won %d", rounds, finished, rescued)
}
