// Package faultstore wraps a store.Store and injects faults into its calls,
// by rule: fail a call before it reaches the database, delay it, or let it
// commit and then return an error — "committed, but the caller saw a
// timeout", the fault that breaks exactly-once in naive engines. A rule
// names a method and picks calls by number or by probability (with a
// seed, so a failing run can be replayed). Kill makes every later call
// fail, as if the process holding the store had died.
//
// It is a test tool: the chaos tests of the engine and testkit.CrashEach
// drive real SQLite and Postgres stores through it.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/tasker-go/tasker/store"
)

// Action is what a rule does to the calls it picks.
type Action int

// Actions.
const (
	// FailBefore returns the error without calling the store: nothing is
	// written.
	FailBefore Action = iota + 1
	// Delay waits Rule.Delay (or until the context ends), then calls the
	// store.
	Delay
	// FailAfter calls the store — a write commits — and then returns the
	// error as if the reply had been lost.
	FailAfter
)

func (a Action) String() string {
	switch a {
	case FailBefore:
		return "fail before"
	case Delay:
		return "delay"
	case FailAfter:
		return "commit then fail"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Rule picks calls of one method and says what happens to them.
type Rule struct {
	// Method is a store.Store method name ("FinishSteps"), or "*" for
	// every method that writes (see Writes).
	Method string
	// Nth picks the nth call (1-based) of Method counted from when the rule
	// was added; 0 picks calls by Probability.
	Nth int
	// Probability picks each call with this chance (0 < p ≤ 1) when Nth is
	// 0; 0 means every call.
	Probability float64
	// Times bounds how many calls the rule picks (0: no bound).
	Times  int
	Action Action
	// Delay is the wait of a Delay action.
	Delay time.Duration
	// Kill, when set, kills the store once the rule has fired: every later
	// call fails with ErrDead.
	Kill bool

	seen, fired int
}

// ErrDead is returned by every call of a killed store.
var ErrDead = errors.New("faultstore: the store's process is dead")

// ErrInjected matches every injected fault (errors.Is). Injected faults
// also match store.ErrRetryable: to the caller they look like a timeout or
// a dropped connection.
var ErrInjected = errors.New("faultstore: injected fault")

// InjectedError is an injected fault.
type InjectedError struct {
	Method    string
	Call      int  // the call's number among Method's calls
	Committed bool // the call reached the store (FailAfter)
}

func (e *InjectedError) Error() string {
	if e.Committed {
		return fmt.Sprintf("faultstore: %s call %d committed, then its reply was lost", e.Method, e.Call)
	}
	return fmt.Sprintf("faultstore: %s call %d failed before reaching the store", e.Method, e.Call)
}

// Is matches ErrInjected and store.ErrRetryable.
func (e *InjectedError) Is(target error) bool {
	return target == ErrInjected || target == store.ErrRetryable
}

// Injection records one fault injected.
type Injection struct {
	Method string
	Call   int
	Action Action
	Err    error     // the error the call returned (FailAfter: the store's own, if any, else the injected one)
	At     time.Time // when the call returned
}

// Writes are the store methods that write. The rule method "*" matches
// these.
var Writes = []string{
	"CreateTask", "CreateTasks", "TransitionTask", "CancelTask", "RetryTask", "TransitionStep", "ResolveStep",
	"ClaimSteps", "FinishSteps", "ExtendLeases", "ReleaseLeases", "RescueExpired",
	"SendEvent", "ConsumeEvent", "DeleteFinished", "Elect", "Resign",
	"RecordStep", "RecordAttempts", "WakeTask", "RegisterWorker", "DeregisterWorker",
	"CreateAdminToken", "RevokeAdminToken", "SetWorkflowValue", "RetireIdentity",
}

// reads are the other methods a rule may name.
var reads = []string{
	"GetTask", "GetTaskOutcomes", "GetTaskByIdentity", "ListTasks", "CountByState", "History", "GetStep",
	"NextWakeup", "RateLimitState", "RunningInGroup", "ListWorkers",
	"CountAdminTokens", "FindAdminToken", "ListAdminTokens", "QueueLags", "TaskActivity",
	"GetWorkflowHistory", "GetWorkflowValue",
}

// state is shared by a Store and the stores its WithTx returns.
type state struct {
	mu     sync.Mutex
	rng    *rand.Rand
	rules  []*Rule
	calls  map[string]int
	log    []Injection
	dead   bool
	onCall func(method string, call int)
	onKill func()
}

// Store is a store.Store that injects faults. Methods other than the
// Store interface's (Wakeups, TaskDone, …) pass through to the wrapped
// store when it has them.
type Store struct {
	inner store.Store
	st    *state
}

// New wraps inner. seed drives the probability rules. The store returned
// also implements store.Waker when inner does.
func New(inner store.Store, seed uint64, rules ...Rule) (*Store, error) {
	s := &Store{inner: inner, st: &state{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), calls: map[string]int{}}}
	if err := s.Add(rules...); err != nil {
		return nil, err
	}
	return s, nil
}

// Wrap returns s as the store.Store to hand to an engine: s itself, or,
// when the wrapped store wakes other processes (store.Waker), s with Wake
// and Wakeups.
func (s *Store) Wrap() store.Store {
	if w, ok := s.inner.(store.Waker); ok {
		return &wakingStore{Store: s, w: w}
	}
	return s
}

type wakingStore struct {
	*Store
	w store.Waker
}

func (w *wakingStore) Wake()                    { w.w.Wake() }
func (w *wakingStore) Wakeups() <-chan struct{} { return w.w.Wakeups() }

// Add adds rules. A rule naming no known method, or with no action, is
// refused and nothing is added.
func (s *Store) Add(rules ...Rule) error {
	var errs []error
	for i, r := range rules {
		where := fmt.Sprintf("faultstore rule %d", i)
		if r.Method != "*" && !slices.Contains(Writes, r.Method) && !slices.Contains(reads, r.Method) {
			errs = append(errs, fmt.Errorf("%s: unknown store method %q", where, r.Method))
		}
		if r.Action < FailBefore || r.Action > FailAfter {
			errs = append(errs, fmt.Errorf("%s: unknown action %d", where, r.Action))
		}
		if r.Nth < 0 || r.Times < 0 || r.Probability < 0 || r.Probability > 1 || r.Delay < 0 {
			errs = append(errs, fmt.Errorf("%s: Nth, Times, Delay must not be negative and Probability must be in [0, 1]", where))
		}
		if r.Action == FailAfter && r.Method != "*" && slices.Contains(reads, r.Method) {
			errs = append(errs, fmt.Errorf("%s: %s writes nothing, so it cannot commit then fail", where, r.Method))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	for _, r := range rules {
		s.st.rules = append(s.st.rules, &r)
	}
	return nil
}

// Clear removes every rule (a killed store stays dead).
func (s *Store) Clear() {
	s.st.mu.Lock()
	s.st.rules = nil
	s.st.mu.Unlock()
}

// Kill makes every later call fail with ErrDead.
func (s *Store) Kill() {
	s.st.mu.Lock()
	s.st.dead = true
	f := s.st.onKill
	s.st.mu.Unlock()
	if f != nil {
		f()
	}
}

// OnKill sets a function called once the store dies (Kill, or a rule with
// Kill set), e.g. to cancel the context of the "process" that held it.
func (s *Store) OnKill(f func()) {
	s.st.mu.Lock()
	s.st.onKill = f
	s.st.mu.Unlock()
}

// Dead reports whether the store was killed.
func (s *Store) Dead() bool {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.dead
}

// Calls is how many calls of method were made (failed ones included).
func (s *Store) Calls(method string) int {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.calls[method]
}

// Injected returns the faults injected so far, in order.
func (s *Store) Injected() []Injection {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return slices.Clone(s.st.log)
}

// OnCall sets a function told of every call (method and its number) before
// rules apply; nil removes it. It runs under the store's lock: it must not
// call the store.
func (s *Store) OnCall(f func(method string, call int)) {
	s.st.mu.Lock()
	s.st.onCall = f
	s.st.mu.Unlock()
}

// pick counts the call and returns the rule that fires, if any.
func (st *state) pick(method string) (n int, r *Rule, dead bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.calls[method]++
	n = st.calls[method]
	if st.onCall != nil {
		st.onCall(method, n)
	}
	if st.dead {
		return n, nil, true
	}
	// Every matching rule counts the call; the first that picks it fires.
	var fire *Rule
	for _, rule := range st.rules {
		if rule.Method != method && (rule.Method != "*" || !slices.Contains(Writes, method)) {
			continue
		}
		if rule.Times > 0 && rule.fired >= rule.Times {
			continue
		}
		rule.seen++
		hit := false
		switch {
		case rule.Nth > 0:
			hit = rule.seen == rule.Nth
		case rule.Probability > 0:
			hit = st.rng.Float64() < rule.Probability
		default:
			hit = true
		}
		if hit && fire == nil {
			rule.fired++
			fire = rule
		}
	}
	if fire != nil {
		return n, fire, false
	}
	return n, nil, false
}

func (st *state) done(method string, n int, r *Rule, err error) {
	st.mu.Lock()
	st.log = append(st.log, Injection{Method: method, Call: n, Action: r.Action, Err: err, At: time.Now()})
	var kill func()
	if r.Kill && !st.dead {
		st.dead = true
		kill = st.onKill
	}
	st.mu.Unlock()
	if kill != nil {
		kill()
	}
}

// do runs one call of method through the rules.
func do[T any](ctx context.Context, s *Store, method string, call func() (T, error)) (T, error) {
	var zero T
	n, r, dead := s.st.pick(method)
	if dead {
		return zero, fmt.Errorf("%s: %w", method, ErrDead)
	}
	if r == nil {
		return call()
	}
	injected := &InjectedError{Method: method, Call: n, Committed: r.Action == FailAfter}
	switch r.Action {
	case FailBefore:
		s.st.done(method, n, r, injected)
		return zero, injected
	case Delay:
		select {
		case <-time.After(r.Delay):
		case <-ctx.Done():
			s.st.done(method, n, r, ctx.Err())
			return zero, ctx.Err()
		}
		v, err := call()
		s.st.done(method, n, r, err)
		return v, err
	}
	_, err := call()
	if err == nil {
		err = injected
	}
	s.st.done(method, n, r, err)
	return zero, err
}

func do0(ctx context.Context, s *Store, method string, call func() error) error {
	_, err := do(ctx, s, method, func() (struct{}, error) { return struct{}{}, call() })
	return err
}
