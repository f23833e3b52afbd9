package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
)

// Retryable(err, time.Until(reset)) with the reset already past asks for
// a negative delay: left to the step's backoff, as a delay under a
// millisecond is, and the error says so. It was taken silently, and
// recorded as asked for ("retry_after_ms":-5000), which also kept the
// predictive retry from weighing the delay.
func TestRetryableWithANegativeDelayUsesTheBackoff(t *testing.T) {
	policy := retry.Policy{Base: time.Second, Max: time.Second, NoJitter: true}
	env, id, at := retryEnv(t, engine.StepTemplate{RetryLimit: 2, Backoff: policy}, func(*engine.StepContext) (any, error) {
		return nil, engine.Retryable(errors.New("429 too many requests"), -5*time.Second)
	})
	env.RunUntilDone(id)
	d := env.Task(id)
	msg := string(d.Steps[0].LastError)
	if d.Task.State != store.TaskError || len(*at) != 2 || strings.Contains(msg, "retry_after_ms") ||
		!strings.Contains(msg, "429 too many requests (retry delay -5s is negative, so the step's backoff decides") {
		t.Fatalf("task %s after %d attempts, error %s; want 2 attempts, the error naming the delay and no retry_after_ms", d.Task.State, len(*at), msg)
	}
	if gap := (*at)[1].Sub((*at)[0]); gap < time.Second {
		t.Errorf("the retry came %s after the first attempt; want the backoff's 1s", gap)
	}
}

// A RetryableError whose MaxRetries is negative caps nothing (only a
// positive one does): the step's own limit decides, and the error says
// so. It was taken silently, as if the cap were set.
func TestRetryableWithNegativeMaxRetriesSaysSo(t *testing.T) {
	env, id, at := retryEnv(t, engine.StepTemplate{RetryLimit: 3, Backoff: retryFast}, func(*engine.StepContext) (any, error) {
		return nil, &engine.RetryableError{Err: errors.New("busy"), MaxRetries: -1}
	})
	env.RunUntilDone(id)
	d := env.Task(id)
	msg := string(d.Steps[0].LastError)
	if d.Task.State != store.TaskError || len(*at) != 3 || !strings.Contains(msg, "busy (MaxRetries -1 is negative and caps nothing: the step's own retry limit decides") {
		t.Fatalf("task %s after %d attempts, error %s; want 3 attempts (the step's limit), the error naming MaxRetries", d.Task.State, len(*at), msg)
	}
}
