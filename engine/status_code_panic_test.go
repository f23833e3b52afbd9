package engine_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// apiError is a client library's error carrying its response; on a
// network failure there is none, and StatusCode dereferences nil.
type apiError struct{ resp *http.Response }

func (e *apiError) Error() string   { return "api call failed" }
func (e *apiError) StatusCode() int { return e.resp.StatusCode }

// An error whose StatusCode method panics is classified as carrying no
// status, and the step's failure is recorded: the engine asked it for its
// HTTP status outside any recover, and the panic crashed the process.
func TestErrorWhoseStatusCodePanics(t *testing.T) {
	env, id, at := retryEnv(t, engine.StepTemplate{RetryLimit: 2, Backoff: retryFast}, func(*engine.StepContext) (any, error) {
		return nil, &apiError{}
	})
	env.RunUntilDone(id)
	if d := env.Task(id); d.Task.State != store.TaskError || len(*at) != 2 {
		t.Fatalf("task %s after %d attempts; want error after 2", d.Task.State, len(*at))
	}
	f := lastFailure(t, env, id)
	if !strings.Contains(f.Message, "api call failed") || f.Diagnosis == nil || f.Diagnosis.Class != "unknown" {
		t.Fatalf("failure %+v (diagnosis %+v); want the error recorded, of the unknown class", f, f.Diagnosis)
	}
}
