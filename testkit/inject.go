package testkit

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// attemptFailer is the handler FailOnAttempts returns. Env.Handle and
// Env.Register recognise it: an attempt it lists past the retry limit of a
// step it runs never comes, so the failure it stands for is never
// injected, and the test would pass without exercising it.
type attemptFailer struct {
	h        engine.Handler
	err      error
	attempts []int
}

func (f *attemptFailer) Handle(sc *engine.StepContext) (any, error) {
	for _, a := range f.attempts {
		if sc.Attempt == a {
			if f.err == nil {
				return nil, fmt.Errorf("testkit: failure injected at attempt %d", a)
			}
			return nil, f.err
		}
	}
	return f.h.Handle(sc)
}

// afterTheEnd says which listed attempts never come because err ends the
// step at the first (engine.Permanent fails it for good, engine.Skip
// completes it, or fails it when it is not skippable); "" when none.
func afterTheEnd(err error, attempts []int) string {
	var perm *engine.PermanentError
	var skip *engine.SkipError
	what := ""
	switch {
	case errors.As(err, &perm):
		what = "engine.Permanent"
	case errors.As(err, &skip):
		what = "engine.Skip"
	default:
		return ""
	}
	sorted := slices.Compact(slices.Sorted(slices.Values(attempts)))
	if len(sorted) == 1 {
		return ""
	}
	later := make([]string, len(sorted)-1)
	for i, a := range sorted[1:] {
		later[i] = strconv.Itoa(a)
	}
	never := "attempt " + later[0] + " never comes"
	if n := len(later); n > 1 {
		never = "attempts " + strings.Join(later[:n-1], ", ") + " and " + later[n-1] + " never come"
	}
	return fmt.Sprintf("%s: the error ends the step at attempt %d (%s)", never, sorted[0], what)
}

// stepLimit is a step of a registered template: the handler it runs and
// the attempts it makes at most.
type stepLimit struct {
	workflow, step, handler string
	limit                   int
}

// limitOf is the attempts step st of template t makes at most.
func limitOf(t *engine.Template, st engine.StepTemplate) stepLimit {
	s := stepLimit{workflow: t.FullName(), step: st.Name, handler: st.Handler, limit: st.RetryLimit}
	switch {
	case st.NotRetryable:
		s.limit = 1
	case s.limit == 0:
		s.limit = store.DefaultRetryLimit
	}
	return s
}

func (s stepLimit) refuse(handler string, f *attemptFailer) error {
	for _, a := range f.attempts {
		if a > s.limit {
			noun := "attempts"
			if s.limit == 1 {
				noun = "attempt"
			}
			return fmt.Errorf("testkit: FailOnAttempts on handler %q fails attempt %d, but step %s of %s makes at most %d %s (its retry limit): that failure would never be injected",
				handler, a, s.step, s.workflow, s.limit, noun)
		}
	}
	return nil
}

// Handle is engine.Engine.Handle, and refuses a FailOnAttempts handler
// that lists an attempt past the retry limit of a step that runs it, of
// any template the engine has (registered through Env or on env.Engine);
// nothing is registered then.
func (env *Env) Handle(name string, h engine.Handler) error {
	env.mu.Lock()
	defer env.mu.Unlock()
	if f, ok := h.(*attemptFailer); ok {
		for _, tn := range env.Templates() {
			t, ok := env.Engine.Template(tn)
			if !ok {
				continue
			}
			for _, st := range t.Steps {
				if st.Handler != name {
					continue
				}
				if err := limitOf(t, st).refuse(name, f); err != nil {
					return err
				}
			}
		}
	}
	return env.Engine.Handle(name, h)
}

// Register is engine.Engine.Register, and refuses a template with a step
// whose handler, registered through Env or on env.Engine, is a
// FailOnAttempts listing an attempt past the step's retry limit; nothing
// is registered then.
func (env *Env) Register(t *engine.Template) error {
	if t == nil {
		return env.Engine.Register(t) // the engine's own refusal
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	for _, st := range t.Steps {
		h, _ := env.Engine.Handler(st.Handler)
		if f, ok := h.(*attemptFailer); ok {
			if err := limitOf(t, st).refuse(st.Handler, f); err != nil {
				return err
			}
		}
	}
	return env.Engine.Register(t)
}

// pastTheLimit is Env's refusal for an engine that other code set up
// (CrashEach's Setup): a FailOnAttempts handler listing an attempt past
// the retry limit of a registered template's step that runs it.
func pastTheLimit(e *engine.Engine) error {
	for _, tn := range e.Templates() {
		t, ok := e.Template(tn)
		if !ok {
			continue
		}
		for _, st := range t.Steps {
			h, _ := e.Handler(st.Handler)
			if f, ok := h.(*attemptFailer); ok {
				if err := limitOf(t, st).refuse(st.Handler, f); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
