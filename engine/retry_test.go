package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// retryEnv registers a one-step workflow whose handler is h.
func retryEnv(t *testing.T, step engine.StepTemplate, h engine.HandlerFunc) (*testkit.Env, int64, *[]time.Time) {
	t.Helper()
	env := testkit.NewEngine(t, nil)
	var at []time.Time
	must(t, env.HandleFunc("h", func(sc *engine.StepContext) (any, error) {
		at = append(at, env.Clock.Now())
		return h(sc)
	}))
	step.Name, step.Handler = "only", "h"
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "retry", Steps: []engine.StepTemplate{step}}))
	hd, err := env.Start(context.Background(), "t/retry", nil)
	if err != nil {
		t.Fatal(err)
	}
	return env, hd.TaskID, &at
}

func TestRetryExactAttemptsThenError(t *testing.T) {
	policy := retry.Policy{Base: time.Second, Max: 4 * time.Second}
	env, id, at := retryEnv(t, engine.StepTemplate{RetryLimit: 4, Backoff: policy}, func(*engine.StepContext) (any, error) {
		return nil, errors.New("flaky dependency")
	})
	env.RunUntilDone(id)
	d := env.Task(id)
	if d.Task.State != store.TaskError || d.Steps[0].Attempts != 4 || len(*at) != 4 {
		t.Fatalf("task %s, attempts %d, handler ran %d times; want error after exactly 4", d.Task.State, d.Steps[0].Attempts, len(*at))
	}
	for n := 1; n < len(*at); n++ {
		gap := (*at)[n].Sub((*at)[n-1])
		if gap < 0 || gap > policy.Ceiling(n) {
			t.Errorf("gap before attempt %d = %s, outside [0, %s]", n+1, gap, policy.Ceiling(n))
		}
	}
	env.AssertStepHistory(id, "only",
		"pending → in_progress", "in_progress → pending",
		"pending → in_progress", "in_progress → pending",
		"pending → in_progress", "in_progress → pending",
		"pending → in_progress", "in_progress → error")
	if !strings.Contains(string(d.Task.LastError), "flaky dependency") {
		t.Fatalf("task error %s does not carry the cause", d.Task.LastError)
	}
}

func TestPermanentErrorStopsAtOnce(t *testing.T) {
	env, id, at := retryEnv(t, engine.StepTemplate{RetryLimit: 5}, func(*engine.StepContext) (any, error) {
		return nil, &engine.PermanentError{Err: errors.New("card declined"), Code: "HTTP_402"}
	})
	env.RunUntilDone(id)
	if d := env.Task(id); d.Task.State != store.TaskError || len(*at) != 1 || !strings.Contains(string(d.Steps[0].LastError), "HTTP_402") {
		t.Fatalf("task %s after %d attempts, error %s", d.Task.State, len(*at), d.Steps[0].LastError)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	env, id, at := retryEnv(t, engine.StepTemplate{Backoff: retry.Policy{Base: time.Millisecond, Max: time.Hour}}, func(sc *engine.StepContext) (any, error) {
		if sc.Attempt == 1 {
			return nil, engine.Retryable(errors.New("429 too many requests"), 30*time.Second)
		}
		return "ok", nil
	})
	env.RunUntilDone(id)
	if len(*at) != 2 || (*at)[1].Sub((*at)[0]) < 30*time.Second {
		t.Fatalf("attempts at %v; want the second at least 30s after the first", *at)
	}
	if env.Task(id).Task.State != store.TaskComplete {
		t.Fatal("task did not complete")
	}
}

// Retryable(err, 30) meant 30 s and is 30 ns: retried at once, the step
// would hammer what failed until its attempts ran out. A delay under a
// millisecond is left to the step's backoff, and the error says so.
func TestRetryableUnderAMillisecondUsesTheBackoff(t *testing.T) {
	policy := retry.Policy{Base: time.Second, Max: time.Second, NoJitter: true}
	env, id, at := retryEnv(t, engine.StepTemplate{RetryLimit: 3, Backoff: policy}, func(*engine.StepContext) (any, error) {
		return nil, engine.Retryable(errors.New("429 too many requests"), 30)
	})
	env.RunUntilDone(id)
	d := env.Task(id)
	msg := string(d.Steps[0].LastError)
	if d.Task.State != store.TaskError || len(*at) != 3 || !strings.Contains(msg, "429 too many requests (retry delay 30ns is under a millisecond, so the step's backoff decides") {
		t.Fatalf("task %s after %d attempts, error %s; want 3 attempts, the error naming the delay", d.Task.State, len(*at), msg)
	}
	for n := 1; n < len(*at); n++ {
		if gap := (*at)[n].Sub((*at)[n-1]); gap < time.Second {
			t.Errorf("attempt %d came %s after the one before; want the backoff's 1s, not 30ns", n+1, gap)
		}
	}
}

func TestRetryableMaxRetries(t *testing.T) {
	env, id, at := retryEnv(t, engine.StepTemplate{RetryLimit: 10, Backoff: retryFast}, func(*engine.StepContext) (any, error) {
		return nil, &engine.RetryableError{Err: errors.New("busy"), MaxRetries: 2}
	})
	env.RunUntilDone(id)
	if len(*at) != 3 || env.Task(id).Task.State != store.TaskError {
		t.Fatalf("ran %d times, want 3 (1 + 2 retries)", len(*at))
	}
}

func TestNotRetryableRunsOnce(t *testing.T) {
	env, id, at := retryEnv(t, engine.StepTemplate{NotRetryable: true}, func(*engine.StepContext) (any, error) {
		return nil, errors.New("nope")
	})
	env.RunUntilDone(id)
	if len(*at) != 1 || env.Task(id).Task.State != store.TaskError {
		t.Fatalf("ran %d times", len(*at))
	}
}

func TestPanicBecomesRetryableErrorWithStack(t *testing.T) {
	env, id, at := retryEnv(t, engine.StepTemplate{Backoff: retryFast}, func(sc *engine.StepContext) (any, error) {
		if sc.Attempt == 1 {
			panic("boom")
		}
		return 1, nil
	})
	env.RunUntilDone(id)
	if len(*at) != 2 || env.Task(id).Task.State != store.TaskComplete {
		t.Fatalf("ran %d times", len(*at))
	}
	h, _ := env.Store.History(context.Background(), id)
	found := false
	for _, tr := range h.Steps {
		if strings.Contains(string(tr.Metadata), "boom") && strings.Contains(string(tr.Metadata), "goroutine") {
			found = true
		}
	}
	if !found {
		t.Fatal("the panic and its stack are not in the step's history")
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	env, id, at := retryEnv(t, engine.StepTemplate{Timeout: time.Millisecond, Backoff: retryFast}, func(sc *engine.StepContext) (any, error) {
		if sc.Attempt == 1 {
			<-sc.Done() // the step's deadline cancels the context
			return nil, sc.Err()
		}
		return "second time lucky", nil
	})
	env.RunUntilDone(id)
	if len(*at) != 2 || env.Task(id).Task.State != store.TaskComplete {
		t.Fatalf("ran %d times, task %s", len(*at), env.Task(id).Task.State)
	}
	if !strings.Contains(string(env.StepHistory(id, "only")[1]), "pending") {
		t.Fatalf("history %v", env.StepHistory(id, "only"))
	}
}

func TestFailOnAttemptsInjection(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	base := engine.HandlerFunc(func(*engine.StepContext) (any, error) { return "ok", nil })
	must(t, env.Handle("h", testkit.FailOnAttempts(base, errors.New("injected"), 1, 2)))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "inject", Steps: []engine.StepTemplate{{Name: "s", Handler: "h", Backoff: retryFast}}}))
	h, _ := env.Start(context.Background(), "t/inject", nil)
	env.RunUntilDone(h.TaskID)
	if d := env.Task(h.TaskID); d.Task.State != store.TaskComplete || d.Steps[0].Attempts != 3 {
		t.Fatalf("task %s after %d attempts", d.Task.State, d.Steps[0].Attempts)
	}
}

// A step's backoff that sets only Base or only Max takes the other from
// Config.Retry, as its doc's "default Config.Retry" says: it took the
// retry package's defaults (Base 1s, Max 5m), so a step setting Max under
// an engine whose Base is 2m waited 1s, then 2s.
func TestStepBackoffTakesTheMissingFieldFromConfig(t *testing.T) {
	for _, c := range []struct {
		name   string
		step   retry.Policy
		engine retry.Policy
		gaps   []time.Duration
	}{
		{"max only", retry.Policy{Max: 10 * time.Minute, NoJitter: true}, retry.Policy{Base: 2 * time.Minute, Max: time.Hour}, []time.Duration{2 * time.Minute, 4 * time.Minute}},
		{"base only", retry.Policy{Base: time.Minute, NoJitter: true}, retry.Policy{Base: time.Second, Max: 90 * time.Second}, []time.Duration{time.Minute, 90 * time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Retry: c.engine}})
			var at []time.Time
			must(t, env.HandleFunc("h", func(sc *engine.StepContext) (any, error) {
				at = append(at, env.Clock.Now())
				return nil, errors.New("down")
			}))
			must(t, env.Register(&engine.Template{Namespace: "t", Name: "retry", Steps: []engine.StepTemplate{{Name: "only", Handler: "h", RetryLimit: 3, Backoff: c.step}}}))
			hd, err := env.Start(context.Background(), "t/retry", nil)
			must(t, err)
			env.RunUntilDone(hd.TaskID)
			if len(at) != 3 {
				t.Fatalf("%d attempts, want 3", len(at))
			}
			for n, want := range c.gaps {
				if gap := at[n+1].Sub(at[n]); gap != want {
					t.Errorf("attempt %d came %s after the one before, want %s", n+2, gap, want)
				}
			}
		})
	}
}

// A step ended by its RetryableError's MaxRetries, not by its RetryLimit:
// the diagnosis says so, and does not suggest raising a RetryLimit that
// was never reached (attempt 3 "the last of 10 allowed", "raise the
// step's RetryLimit from 10 to 12").
func TestRetryableMaxRetriesDiagnosis(t *testing.T) {
	env, id, _ := retryEnv(t, engine.StepTemplate{RetryLimit: 10, Backoff: retryFast}, func(*engine.StepContext) (any, error) {
		return nil, &engine.RetryableError{Err: errors.New("busy"), MaxRetries: 2}
	})
	env.RunUntilDone(id)
	f := lastFailure(t, env, id)
	if f.Kind != engine.KindExhausted || f.Attempt != 3 || f.Diagnosis == nil {
		t.Fatalf("failure %+v, want retries_exhausted at attempt 3 with a diagnosis", f)
	}
	d := f.Diagnosis
	if !slices.ContainsFunc(d.Insights, func(s string) bool { return strings.Contains(s, "MaxRetries 2") }) {
		t.Errorf("insights %q do not name the error's MaxRetries 2", d.Insights)
	}
	for _, s := range append(slices.Clone(d.Insights), d.Suggestions...) {
		if strings.Contains(s, "RetryLimit") || strings.Contains(s, "of 10 allowed") {
			t.Errorf("diagnosis speaks of the step's RetryLimit, which did not end it: %q", s)
		}
	}
	// When the step's RetryLimit ends it at the same attempt, it is the
	// limit the diagnosis speaks of (raising MaxRetries alone would not
	// help).
	env, id, _ = retryEnv(t, engine.StepTemplate{RetryLimit: 3, Backoff: retryFast}, func(*engine.StepContext) (any, error) {
		return nil, &engine.RetryableError{Err: errors.New("busy"), MaxRetries: 2}
	})
	env.RunUntilDone(id)
	if d := lastFailure(t, env, id).Diagnosis; d == nil || !slices.Contains(d.Insights, "attempt 3 was the last of 3 allowed") {
		t.Errorf("diagnosis %+v, want the step's limit of 3 named", d)
	}
}

// A PermanentError's Code prefixes its message, and the StepError (and
// the TaskError holding it) names it once: it read "permanent) HTTP_402:
// HTTP_402: card declined".
func TestPermanentErrorCodeNamedOnce(t *testing.T) {
	env, id, _ := retryEnv(t, engine.StepTemplate{RetryLimit: 5}, func(*engine.StepContext) (any, error) {
		return nil, &engine.PermanentError{Err: errors.New("card declined"), Code: "HTTP_402"}
	})
	env.RunUntilDone(id)
	f := lastFailure(t, env, id)
	if f.Code != "HTTP_402" || f.Message != "HTTP_402: card declined" {
		t.Fatalf("failure code %q, message %q", f.Code, f.Message)
	}
	if want := "step only failed (attempt 1, permanent): HTTP_402: card declined"; f.Error() != want {
		t.Fatalf("StepError %q, want %q", f.Error(), want)
	}
	// A code the message does not start with (recorded by hand, or by an
	// older version) is still named.
	se := &engine.StepError{Step: "s", Attempt: 1, Kind: engine.KindPermanent, Code: "E1", Message: "declined"}
	if want := "step s failed (attempt 1, permanent) E1: declined"; se.Error() != want {
		t.Fatalf("StepError %q, want %q", se.Error(), want)
	}
}
