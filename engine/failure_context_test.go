package engine_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// badJSON's MarshalJSON reads a field it never got: on a value that is not
// nil, it panics.
type badJSON struct{ inner *struct{ v string } }

func (b badJSON) MarshalJSON() ([]byte, error) { return json.Marshal(b.inner.v) }

// A RetryableError's (or PermanentError's) Context value whose MarshalJSON
// panics is left out of the recorded failure, as one that does not encode
// is: recording the failure encoded it outside any recover, and the panic
// crashed the process.
func TestFailureContextWhoseMarshalJSONPanics(t *testing.T) {
	env, id, at := retryEnv(t, engine.StepTemplate{RetryLimit: 2, Backoff: retryFast}, func(*engine.StepContext) (any, error) {
		return nil, &engine.RetryableError{Err: errors.New("busy"), Context: map[string]any{"resp": badJSON{}}}
	})
	env.RunUntilDone(id)
	d := env.Task(id)
	if d.Task.State != store.TaskError || len(*at) != 2 || !strings.Contains(string(d.Steps[0].LastError), "busy") {
		t.Fatalf("task %s after %d attempts, error %s; want error after 2, recorded", d.Task.State, len(*at), d.Steps[0].LastError)
	}
}
