package engine

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine/internal/batch"
	"github.com/tasker-go/tasker/engine/internal/bus"
	"github.com/tasker-go/tasker/engine/internal/claimer"
	"github.com/tasker-go/tasker/engine/internal/diagnose"
	"github.com/tasker-go/tasker/engine/internal/inflight"
	"github.com/tasker-go/tasker/engine/internal/maintainer"
	"github.com/tasker-go/tasker/engine/internal/pressure"
	"github.com/tasker-go/tasker/engine/internal/schedule"
	"github.com/tasker-go/tasker/engine/internal/skew"
	"github.com/tasker-go/tasker/engine/internal/valcache"
	"github.com/tasker-go/tasker/engine/internal/waiters"
	"github.com/tasker-go/tasker/internal/editdist"
	"github.com/tasker-go/tasker/store"
)

// Engine registers workflows, starts them, and runs their steps. It holds
// the public API and wires the machinery in engine/internal: the claim loop,
// the dispatcher, the completer, the maintainer and the tuner (built for
// each Run), and the in-flight set, the waiters and the event bus (shared
// by every run and by the operator calls).
type Engine struct {
	cfg Config
	st  store.Store
	log *zap.Logger
	clk Clock
	reg registry

	tmu       sync.RWMutex
	templates map[string]*Template // by "ns/name" (latest registered) and "ns/name@version"

	wake     chan struct{} // new work may be ready
	due      claimer.Due   // when work this process committed becomes ready
	inflight inflight.Set  // steps running here
	waiters  waiters.Set   // callers of Wait
	// far, on stores shared by many processes, wakes Wait when another
	// process finishes a task (Postgres: NOTIFY; SQLite: the file's
	// data_version); nil on stores that cannot tell.
	far   *waiters.Far
	bus   bus.Bus[Event]
	maint *maintainer.Maintainer
	sched *schedule.Runner // fires schedules while this process leads them

	life    lifecycle
	stat    counters
	closing closer // cancels the children of failed workflows off the completer (closer.go)

	cmu sync.Mutex
	co  *coordination // see coordinate

	rec recorder // groups durable step records of code-first workflows
	// skew estimates the store's clock against the engine's from the claims.
	skew skew.Estimate

	starts *batch.Batcher[*store.CreateTaskParams, *store.CreateTaskResult] // group commit of Start (create.go)
	eager  atomic.Pointer[eagerRun]                                         // the running loop's dispatcher, for starts' claims (eager.go)

	wreg workerReg // this engine's row in the worker registry (workers.go)
	met  *Metrics  // Config.Metrics; nil: none
	// tracer makes the engine's spans (tracing.go): Config.TracerProvider
	// or the global one.
	tracer trace.Tracer

	codec Codec // Config.Codec; nil: payloads stored as JSON (codec.go)

	// press assesses the store's connection pool: read it with
	// e.press.Fresh(TuneInterval) (samples when the last reading is older).
	press *pressure.Monitor
	tun   runTuning // the active run's tuner and batch sizer (tuning.go)

	vals  *valcache.Cache // derived values through the cache (predictive.go)
	rules []diagnose.Rule // the diagnosis table (diagnosis.go)
}

// New returns an engine on cfg.Store. It starts no goroutine: call Run.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	tracer, err := tracerOf(c.TracerProvider)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg: c, st: c.Store, log: c.Logger, clk: c.Clock,
		templates: map[string]*Template{}, wake: make(chan struct{}, 1), met: c.Metrics, codec: c.Codec, tracer: tracer,
	}
	e.starts = batch.New(startBatch, e.createBatch)
	e.press = pressure.NewMonitor(e.st.DB().Stats, e.clk.Now)
	ttl, err := cachex.NewAdaptiveTTL(c.AdaptiveTTL, e.clk)
	if err != nil { // Validate checked it
		return nil, err
	}
	e.vals = valcache.New(ttl, familyHistory, familyReport)
	e.rules = diagnosisRules(c.DiagnosisRules)
	if d, ok := e.st.(taskDoneStore); ok {
		// Lingering 100 ms, a caller waiting for many tasks in turn
		// starts the watcher once (on SQLite each start took a reader
		// and half of a Wait's time for a finished task).
		e.far = &waiters.Far{Set: &e.waiters, Source: d.TaskDone, DoneAmong: e.st.TasksDone, Read: e.outcome, Linger: 100 * time.Millisecond}
	}
	x := c.Execution
	retention := max(x.Retention, 0) // KeepForever: 0, none
	owner := leadershipOwner(c.WorkerID)
	e.maint = maintainer.New(maintainer.Config{Owner: owner, LeaseTTL: x.LeaseTTL, RescueInterval: x.RescueInterval, Retention: retention,
		DeadlineCause: func() store.JSON { return e.sweptCause(errDeadlineSwept, "") },
		ExpiredCause:  func() store.JSON { return e.sweptCause(errLeaseExpired, "lease_expired") }},
		e.st, e.clk, e.log, &e.inflight, maintainer.Hooks{Rescued: e.rescued, Orphans: e.cancelOrphans, Beat: e.beatWorker, Pass: e.maintained})
	e.sched = schedule.NewRunner(schedule.Config{Owner: owner, Interval: x.ScheduleInterval}, e.st, e.clk, e.log,
		schedule.Hooks{Start: e.startScheduled, Running: e.scheduledRunning, Cancel: e.cancelScheduled})
	return e, nil
}

// leadershipOwner names this engine in the leaderships it takes (the
// maintenance, the schedules): its WorkerID and a random suffix of its own.
// Owned by the WorkerID alone, a leadership was held by every process given
// that ID (a configuration copied to two machines): each one's election
// renewed "its" lease, and both ran the maintenance pass and fired the
// schedules. A WorkerID too long for the suffix is cut (on a character
// boundary) to leave it room.
func leadershipOwner(workerID string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	suffix := "#" + hex.EncodeToString(b[:])
	id := workerID
	if n := store.MaxNameLen - len(suffix); len(id) > n {
		id = strings.ToValidUTF8(id[:n], "")
	}
	return id + suffix
}

// Store returns the engine's store.
func (e *Engine) Store() store.Store { return e.st }

// Handle registers a handler under name. A nil handler, a name the store
// would not accept or one starting with WorkflowHandlerPrefix is refused
// (errors.Is ErrInvalidTemplate), and so is a name registered before
// (errors.Is ErrDuplicate): see Handle.
func (e *Engine) Handle(name string, h Handler) error { return e.reg.Register(name, h) }

// HandleFunc registers a function as a handler.
func (e *Engine) HandleFunc(name string, f func(sc *StepContext) (any, error)) error {
	if f == nil {
		return e.reg.Register(name, nil)
	}
	return e.reg.Register(name, HandlerFunc(f))
}

// Handlers lists the registered handler names, sorted (code-first
// workflows appear as "workflow:namespace/name").
func (e *Engine) Handlers() []string { return slices.Clone(e.reg.Names()) }

// Handler returns the handler registered under name (by Handle or
// HandleFunc), so that code given the engine (testkit) can check what a
// template's steps will run.
func (e *Engine) Handler(name string) (Handler, bool) { return e.reg.Lookup(name) }

// Register validates a template (every problem at once) and makes it
// startable as "namespace/name" (the latest registered version) and
// "namespace/name@version". Its handlers need not be registered in this
// process (a process may only start workflows); tasker lint --handlers and
// Explain find a handler no worker serves.
//
// Registering a version again with the same definition (the steps and
// their settings, the input schema, and the queue, priority, concurrency,
// rate limits and retention; the description may differ) is allowed and
// changes nothing. A version registered again with a different
// definition, or a template under the name of a code-first workflow, is
// refused with ErrDuplicate: a name means one thing in an engine.
//
// The engine keeps a copy of t (its steps' Config as encoded then): a
// change to t after Register, such as the next version built in the same
// value, changes nothing registered. A template without a Version is
// registered as "0.0.0".
func (e *Engine) Register(t *Template) error {
	if t == nil {
		return &TemplateError{Msg: "registering a template: the template is nil"}
	}
	t = t.registered()
	// Handlers need not be registered here: a process that only starts
	// workflows, and workers that each serve part of a template, are
	// normal deployments (steps wait, costing no attempt, until a worker
	// that has their handler claims them; tasker lint and Explain find a
	// handler no one serves).
	if err := t.Validate(nil); err != nil {
		return err
	}
	if err := t.CheckBackoff(e.cfg.Retry); err != nil {
		return err
	}
	if len(t.InputSchema) > 0 {
		s, err := compileSchema(t.schemaURL(), t.InputSchema)
		if err != nil {
			return err
		}
		t.schema = s
	}
	e.tmu.Lock()
	defer e.tmu.Unlock()
	if _, code := e.workflowDef(t.FullName()); code {
		return fmt.Errorf("registering template %s: %w: a code-first workflow of that name is registered", t.FullName(), ErrDuplicate)
	}
	if old, ok := e.templates[t.FullName()+"@"+t.Version]; ok {
		if definition(old) != definition(t) {
			return fmt.Errorf("registering template %s@%s: %w: that version is registered with a different definition (register the change under a new version)", t.FullName(), t.Version, ErrDuplicate)
		}
		return nil
	}
	e.templates[t.FullName()] = t
	e.templates[t.FullName()+"@"+t.Version] = t
	return nil
}

// registered is the copy of t that Register keeps: nothing in it is shared
// with t, so the caller's later changes to t (the next version built in
// the same value) do not change a registered version. A step's Config
// that encodes is kept encoded (the engine hands it to handlers as JSON);
// one that does not is kept as it is, for Validate to report.
func (t *Template) registered() *Template {
	c := *t
	if c.Version == "" {
		c.Version = "0.0.0"
	}
	c.InputSchema = slices.Clone(t.InputSchema)
	if t.Concurrency != nil {
		cc := *t.Concurrency
		c.Concurrency = &cc
	}
	c.RateLimits = maps.Clone(t.RateLimits)
	c.Steps = slices.Clone(t.Steps)
	for i := range c.Steps {
		s := &c.Steps[i]
		s.DependsOn = slices.Clone(s.DependsOn)
		if s.Config != nil {
			if doc, err := json.Marshal(s.Config); err == nil {
				s.Config = json.RawMessage(doc)
			}
		}
	}
	return &c
}

// Templates lists registered templates by "namespace/name@version", in
// that string's order (the same list every call).
func (e *Engine) Templates() []string {
	e.tmu.RLock()
	defer e.tmu.RUnlock()
	var out []string
	for k := range e.templates {
		if strings.Contains(k, "@") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Template returns a copy of the template registered as name: a
// "namespace/name@version" that Templates lists, or "namespace/name" for
// the version registered last. Changing the copy changes nothing
// registered.
func (e *Engine) Template(name string) (*Template, bool) {
	t, err := e.template(name)
	if err != nil {
		return nil, false
	}
	return t.registered(), true
}

func (e *Engine) template(name string) (*Template, error) {
	e.tmu.RLock()
	defer e.tmu.RUnlock()
	t, ok := e.templates[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTemplate, quoteName(name))
	}
	return t, nil
}

// unknownTemplate is Start's error for a name no template has: it says
// when the name is a code-first workflow's, or which registered name it
// is a slip away from.
func (e *Engine) unknownTemplate(name string) error {
	if _, ok := e.workflowDef(name); ok {
		return fmt.Errorf("%w: %s is a code-first workflow: start it with StartWorkflow", ErrUnknownTemplate, quoteName(name))
	}
	if base, _, ok := strings.Cut(name, "@"); ok {
		if vs := e.versions(base); len(vs) > 0 {
			what := "version"
			if len(vs) > 1 {
				what = "versions"
			}
			return fmt.Errorf("%w: %s: %s is registered in this process in %s %s (leave the version out for the one registered last)", ErrUnknownTemplate, quoteName(name), base, what, strings.Join(vs, ", "))
		}
	}
	return fmt.Errorf("%w: %s%s", ErrUnknownTemplate, quoteName(name), e.didYouMean(name))
}

// versions lists the registered versions of the DAG template base
// ("namespace/name"), sorted.
func (e *Engine) versions(base string) []string {
	var out []string
	e.tmu.RLock()
	for k := range e.templates {
		if v, ok := strings.CutPrefix(k, base+"@"); ok {
			out = append(out, strconv.Quote(v))
		}
	}
	e.tmu.RUnlock()
	slices.Sort(out)
	return out
}

// didYouMean returns "; did you mean \"x\"?" for the registered workflow
// (DAG or code-first) closest to name, within two typing slips, or "".
func (e *Engine) didYouMean(name string) string {
	var names []string
	e.tmu.RLock()
	for k := range e.templates {
		if !strings.Contains(k, "@") {
			names = append(names, k)
		}
	}
	e.tmu.RUnlock()
	for _, h := range e.reg.Names() {
		if w, ok := strings.CutPrefix(h, WorkflowHandlerPrefix); ok {
			names = append(names, w)
		}
	}
	slices.Sort(names) // the same suggestion every time
	best := editdist.Closest(name, names)
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %s?", quoteName(best))
}

// StartOption adjusts Start (StartWorkflow, StartMany). An option given
// twice with different values (WithQueue("a") then WithQueue("b")) is
// refused (store.ErrInvalid), naming it and both values; the same value
// twice is accepted. A StartMany item's option replaces the same option
// given to the whole call.
type StartOption func(*startOptions)

type startOptions struct {
	key      string
	keySet   bool // WithIdempotencyKey given (see check)
	unique   bool
	tx       bun.IDB
	txSet    bool // InTx given
	priority *int
	queue    string
	group    string // WithConcurrency
	groupMax int
	concSet  bool // WithConcurrency given
	queueSet bool // WithQueue given
	parent   *int64
	timeout  time.Duration // WithWorkflowTimeout
	// timeoutSet: WithWorkflowTimeout given
	timeoutSet bool
	// StartAt, StartAfter (see notBefore)
	startAt    time.Time
	startAfter time.Duration
	after      bool          // the delay is StartAfter's (StartAt's otherwise)
	delays     int           // StartAt and StartAfter given (none: no delay; more than one is refused)
	reuse      IdentityReuse // WithIdentityReuse
	reuseSet   bool
	// twice: options given again with another value (see givenTwice)
	twice []string
	// overriding: a StartMany item's options are being applied over the
	// shared ones, which they replace (see overrideWith)
	overriding bool
}

// deadline is how long after its creation WithWorkflowTimeout ends the
// task (zero: never): the timeout, counted from the delayed start when
// there is one. The store writes the task's deadline by the database's
// clock (store.CreateTaskParams.Deadline), so a starter whose clock is
// skewed against the workers' does not move it.
// A timeout that, added to the delay, overflows is refused naming the
// option: the sum would wrap to a negative deadline, refused by the store
// in its own words.
func (o *startOptions) deadline(clk Clock) (time.Duration, error) {
	if o.timeout <= 0 {
		return 0, nil
	}
	now := clk.Now()
	at, _ := o.notBefore(clk)
	if !at.After(now) {
		return o.timeout, nil
	}
	wait := at.Sub(now) // a delayed start: from then
	if o.timeout > math.MaxInt64-wait {
		return 0, fmt.Errorf("%w: WithWorkflowTimeout(%s): counted from the delayed start (StartAt or StartAfter, %s from now), the deadline is past what a time.Duration holds (about 292 years)", store.ErrInvalid, o.timeout, wait)
	}
	return wait + o.timeout, nil
}

// identity returns a new task's identity key and input hash: a fresh
// random key (Unique), the caller's key (WithIdempotencyKey, scoped by
// name), or by default the hash of the normalised input (scoped by what,
// the template and its version). See boundIdentity for long ones.
func (o *startOptions) identity(name, what string, doc store.JSON) (identity, inputHash string) {
	sum := sha256.Sum256(doc)
	inputHash = hex.EncodeToString(sum[:])
	switch {
	case o.unique:
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		return "unique:" + hex.EncodeToString(b), inputHash
	case o.key != "":
		return boundIdentity("key:" + name + ":" + o.key), inputHash
	default:
		return boundIdentity("input:" + what + ":" + inputHash), inputHash
	}
}

// boundIdentity keeps an identity within the store's limits whatever the
// lengths of the names and key in it: one that is too long (or holds a
// byte the store refuses) becomes "<kind>:sha256:<hash of all of it>". Such
// a key never equals an identity kept as it is, whose second part (a
// workflow name) always contains a '/'. Identities that fit are unchanged,
// so tasks started before keep theirs.
func boundIdentity(id string) string {
	if len(id) <= store.MaxNameLen && utf8.ValidString(id) && strings.IndexByte(id, 0) < 0 {
		return id
	}
	kind, _, _ := strings.Cut(id, ":")
	sum := sha256.Sum256([]byte(id))
	return kind + ":sha256:" + hex.EncodeToString(sum[:])
}

// definition is what makes two registrations of a template version the
// same: its steps as the store would snapshot them, its input schema and
// what its tasks are created with (queue, priority, concurrency, rate
// limits, retention); not its description.
func definition(t *Template) string {
	schema := []byte(t.InputSchema)
	if v, err := decodeAny(schema); err == nil {
		schema, _ = json.Marshal(v)
	}
	doc, _ := json.Marshal(struct {
		Steps       []store.NewStep
		Schema      string
		Queue       string
		Priority    int
		Concurrency *Concurrency
		RateLimits  []store.RateLimit
		Retention   time.Duration
	}{t.newSteps(), string(schema), cmp.Or(t.Queue, store.DefaultQueue), t.Priority, t.Concurrency, t.rateLimits(), t.Retention})
	return string(doc)
}

// withParent makes the task a child of parent (see Child).
func withParent(parent int64) StartOption { return func(o *startOptions) { o.parent = &parent } }

// WithIdempotencyKey makes the key the task's identity: starting again with
// the same key returns the existing task; with the same key and a different
// input it fails with store.ErrConflict.
// An empty key is refused, and so is the option with Unique, and a key of
// the form ContinueAsNew gives a workflow's next run ("continue-of-" and a
// task id: the task would be taken for that task's next run). Any other key
// is taken byte for byte (" k" and "k" are two keys) whatever its length
// and bytes: one past store.MaxNameLen, or holding a NUL byte or invalid
// UTF-8, is kept as its hash ("key:sha256:…", which a conflict names).
// Keys are scoped by the workflow's name (not its version); a name holding
// ':' can meet another's key ("t/a:b" with "k" is "t/a" with "b:k"): the
// start whose key another workflow's task holds fails with ErrConflict.
func WithIdempotencyKey(key string) StartOption {
	return func(o *startOptions) {
		if o.keySet && o.key != key {
			o.givenTwice("WithIdempotencyKey", quoteName(o.key), quoteName(key))
		}
		o.key, o.keySet = key, true
	}
}

// Unique gives the task a fresh identity: every Start creates a task. It
// cannot be combined with WithIdempotencyKey.
func Unique() StartOption { return func(o *startOptions) { o.unique = true } }

// InTx creates the task inside the caller's transaction (a bun.Tx on the
// store's DB): it exists, and runs, only if that transaction commits. A
// nil tx is refused. The engine cannot see the caller's commit: the
// start's task.started event and its count (Stats.TasksStarted,
// tasks_started_total) come when Start returns, before the commit, and
// stand even if the transaction rolls back. The workers it wakes then look
// before the task is visible: on PostgreSQL (and an in-memory SQLite
// store) nothing wakes them at the commit, so the task waits for their
// next poll, up to ExecutionConfig.PollInterval in every process, unless
// the caller calls Engine.Notify once the transaction has committed. A
// SQLite file store sees the commit itself, within milliseconds, in every
// process on the file (Notify is harmless there).
func InTx(tx bun.IDB) StartOption {
	return func(o *startOptions) {
		if o.txSet && !sameIDB(o.tx, tx) {
			o.givenTwice("InTx", "two different transactions", "")
		}
		o.tx, o.txSet = tx, true
	}
}

// WithPriority sets the task's priority, 0..1000 (default: the template's,
// else 0): workers claim ready steps of higher priority first, FIFO within
// a priority. Every tenth claim takes the longest-waiting ready steps
// regardless of priority, so a flood of high-priority work slows the rest
// but never starves it.
func WithPriority(p int) StartOption {
	return func(o *startOptions) {
		if o.priority != nil && *o.priority != p {
			o.givenTwice("WithPriority", strconv.Itoa(*o.priority), strconv.Itoa(p))
		}
		o.priority = &p
	}
}

// WithConcurrency puts the task in concurrency group g: at most max steps
// of the tasks in g run at once across every process (the others wait in
// claim order, costing no attempt). It overrides the template's
// Concurrency; code-first workflows are limited this way. An empty g and a
// max below 1 are refused. The limit is kept by each task's steps: one
// waits while its own task's max or more of the group's steps run, so
// starts giving g different limits keep none of them (with 1 and 3, three
// run while a task of limit 1 waits): give a group one limit.
func WithConcurrency(g string, max int) StartOption {
	return func(o *startOptions) {
		if o.concSet && (o.group != g || o.groupMax != max) {
			o.givenTwice("WithConcurrency", fmt.Sprintf("(%s, %d)", quoteName(o.group), o.groupMax), fmt.Sprintf("(%s, %d)", quoteName(g), max))
		}
		o.group, o.groupMax, o.concSet = g, max, true
	}
}

// concurrency returns the task's group and limit: the option's, else the
// template's (the workflow's name, with the input's Key field's value).
func (o *startOptions) concurrency(workflow string, c *Concurrency, input store.JSON) (string, int, error) {
	if o.group != "" || o.groupMax != 0 {
		return o.group, o.groupMax, nil
	}
	if c == nil {
		return "", 0, nil
	}
	if c.Key == "" {
		return boundIdentity("workflow:" + workflow), c.Max, nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(input, &doc); err != nil {
		return "", 0, err
	}
	v, ok := doc[c.Key]
	if !ok {
		return "", 0, fmt.Errorf("%w: the input has no field %q, the workflow's concurrency key", ErrInvalidInput, c.Key)
	}
	v = wholeNumber(v)
	if strings.Contains(workflow, ":") || strings.Contains(c.Key, ":") {
		// The name and the key are joined by ':', so "t/a:b" with Key "k"
		// and "t/a" with Key "b:k" would be one group, each workflow's
		// tasks counting against the other's limit. These are kept apart by
		// a hash of the three as a JSON list (a group without a ':' in
		// either is unchanged, so running tasks keep theirs; this form
		// cannot be one of those, whose name holds a '/').
		doc, _ := json.Marshal([]string{workflow, c.Key, string(v)})
		sum := sha256.Sum256(doc)
		return "key:sha256:" + hex.EncodeToString(sum[:]), c.Max, nil
	}
	group := "key:" + workflow + ":" + c.Key + "=" + string(v)
	if len(group) > store.MaxNameLen {
		sum := sha256.Sum256([]byte(group))
		group = "key:" + workflow + ":" + c.Key + "#" + hex.EncodeToString(sum[:16])
	}
	// Names or a key too long for even that: bounded as an identity is
	// (groups that fit are unchanged, so running tasks keep theirs).
	return boundIdentity(group), c.Max, nil
}

// wholeNumber writes a JSON number that is a whole one written with a
// fraction or an exponent (7.0, 7e0: how another language may write an
// integer id) as its digits, 7, so that a concurrency key's value is one
// group however it is written; any other value is returned as it is (an
// integer's group, written as digits, is unchanged). Whole numbers past
// 1e100 are left alone: their digits would be long, and no id is one.
func wholeNumber(v json.RawMessage) json.RawMessage {
	if len(v) == 0 || !(v[0] == '-' || v[0] >= '0' && v[0] <= '9') || !bytes.ContainsAny(v, ".eE") {
		return v
	}
	// Precision for every digit written (a digit is under 4 bits), so
	// two different integers never round to one.
	f, _, err := big.ParseFloat(string(v), 10, uint(4*len(v)+64), big.ToNearestEven)
	if err != nil || !f.IsInt() || f.MantExp(nil) > 333 { // 2^333 > 1e100
		return v
	}
	if mant, _, _ := bytes.Cut(bytes.ToLower(v), []byte("e")); f.Sign() == 0 && len(bytes.Trim(mant, "-0.")) > 0 {
		return v // (1e-999999999 is under the float's range, not 0)
	}
	return json.RawMessage(f.Text('f', 0))
}

// WithQueue puts the task on queue q (default: the template's, else
// "default"; a child workflow inherits its parent's, unless it is a
// template with a Queue). Only workers whose
// ExecutionConfig.Queues include q claim its steps. An empty q is refused.
func WithQueue(q string) StartOption {
	return func(o *startOptions) {
		if o.queueSet && o.queue != q {
			o.givenTwice("WithQueue", quoteName(o.queue), quoteName(q))
		}
		o.queue, o.queueSet = q, true
	}
}

// routing returns the task's queue and priority: the options', else the
// defaults given.
func (o *startOptions) routing(queue string, priority int) (string, int) {
	if o.queue != "" {
		queue = o.queue
	}
	if o.priority != nil {
		priority = *o.priority
	}
	return cmp.Or(queue, store.DefaultQueue), priority
}

// TaskHandle refers to a started task. It remembers the task's identity,
// so it never silently denotes another task: on SQLite a rolled-back InTx
// start frees its id for the next task, and Wait through a handle from
// that start reports store.ErrNotFound instead of the other task.
type TaskHandle struct {
	TaskID int64
	// Existing is true when Start found a task with the same identity
	// instead of creating one.
	Existing bool
	identity string
	e        *Engine
	kept     *waiters.Slot // the task, once a commit of this process finished it
}

// handle returns a handle to a task this process started, with the slot
// taken before the start (waiters.Set.Keep).
func (e *Engine) handle(id int64, existing bool, identity string, kept *waiters.Slot) *TaskHandle {
	return &TaskHandle{TaskID: id, Existing: existing, identity: identity, e: e, kept: kept}
}

// Start validates input against the workflow's schema, snapshots the
// template into a new task's steps and edges, and returns a handle. By
// default the task's identity is a hash of the template and the normalised
// input, so starting the same input twice returns the first task.
//
// Starts made at the same time (from many goroutines) share one
// transaction: while one start transaction runs, the Starts that arrive
// wait and go together in the next. ctx bounds that wait: a Start whose
// ctx ends before its group began writes nothing; once its group began, it
// waits for the group's commit. InTx starts are written in the caller's
// transaction, alone.
func (e *Engine) Start(ctx context.Context, workflow string, input any, opts ...StartOption) (*TaskHandle, error) {
	var o startOptions
	if err := applyStartOptions(&o, opts); err != nil {
		return nil, fmt.Errorf("starting %s: %w", workflow, err)
	}
	p, err := e.prepareStart(workflow, input, &o)
	if err != nil {
		return nil, err
	}
	kept := e.waiters.Keep(p.IdentityKey) // before a step can finish
	res, err := e.createReusing(ctx, p, &o)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", workflow, err)
	}
	return e.handle(res.Task.ID, res.Existing, p.IdentityKey, kept), nil
}

// prepareStart validates a start of a DAG template and returns what to
// create.
func (e *Engine) prepareStart(workflow string, input any, o *startOptions) (*store.CreateTaskParams, error) {
	t, err := e.template(workflow)
	if err != nil {
		return nil, e.unknownTemplate(workflow)
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", workflow, err)
	}
	doc, err := normalizeInput(input)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w: %w", workflow, ErrInvalidInput, err)
	}
	stored, err := e.encodeChecked("input", doc) // the bound applies to what is stored
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", workflow, err)
	}
	if t.schema != nil {
		v, _ := decodeAny(doc)
		if err := t.schema.Validate(v); err != nil {
			return nil, fmt.Errorf("starting %s: %w: %w", workflow, ErrInvalidInput, schemaError(t.FullName()+"@"+t.Version, err))
		}
	}
	identity, inputHash := o.identity(t.FullName(), t.FullName()+"@"+t.Version, doc)
	queue, priority := o.routing(t.Queue, t.Priority)
	group, groupMax, err := o.concurrency(t.FullName(), t.Concurrency, doc)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", workflow, err)
	}
	deadline, err := o.deadline(e.clk)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", workflow, err)
	}
	p := &store.CreateTaskParams{
		Namespace: t.Namespace, Name: t.Name, Version: t.Version, Kind: store.KindDAG,
		IdentityKey: identity, InputHash: inputHash, Context: stored, Priority: priority, Queue: queue, ParentID: o.parent,
		ConcGroup: group, ConcMax: groupMax, RateLimits: t.rateLimits(), Retention: t.Retention,
		Deadline: deadline, Steps: t.newSteps(), Now: e.now(),
	}
	if err := o.delay(e.clk, p.Steps); err != nil {
		return nil, fmt.Errorf("starting %s: %w", workflow, err)
	}
	return p, nil
}

// Notify wakes idle workers of this process (and, on stores that support
// it, of others): call it after committing a transaction that started tasks
// with InTx, which on PostgreSQL otherwise wait for the workers' next poll
// (see InTx).
func (e *Engine) Notify() {
	// A store that wakes other processes signals this one too (through
	// its Wakeups channel); signalling both would wake the claim loop
	// twice for one change.
	if w, ok := e.st.(store.Waker); ok {
		w.Wake()
		return
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func normalizeInput(input any) (store.JSON, error) {
	var raw []byte
	switch v := input.(type) {
	case nil:
		raw = []byte("{}")
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	case store.JSON:
		raw = v
	default:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("encoding input: %w", err)
		}
	}
	v, err := decodeAny(raw)
	if err != nil {
		return nil, fmt.Errorf("input is not valid JSON: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("input must be a JSON object")
	}
	return json.Marshal(v) // sorted keys, no insignificant space
}

func decodeAny(doc []byte) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// now is the time handed to the store: zero (the database's clock) unless
// the clock says otherwise (see Clock).
func (e *Engine) now() time.Time { return e.clk.StoreNow() }

// Outcome is a finished task as Wait reports it.
type Outcome struct {
	TaskID  int64                      // the task
	State   store.TaskState            // complete, error, cancelled or resolved_manually
	Results map[string]json.RawMessage // by step name
	Error   json.RawMessage            // the failure that ended the task, if any
	final   []string                   // the steps whose results Final returns (outcome_final.go)
	steps   []string                   // every step's name, sorted (Decode tells a step without a result from no step)
	kind    store.Kind                 // the task's kind
	name    string                     // the task's workflow, "namespace/name"
}

// Decode decodes one step's result. A step that finished without a result
// (skipped, its handler returned nil, resolved without results, or never
// run in a task that did not complete) is an error saying so, and a name
// the task has no step by is an error naming its steps. Whether the step
// was skipped is in its transitions (Engine.History), which Wait does not
// read.
func (o *Outcome) Decode(step string, v any) error {
	raw, ok := o.Results[step]
	switch {
	case ok:
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("decoding the result of step %q of task %d: %w", step, o.TaskID, err)
		}
		return nil
	case o.steps != nil && !slices.Contains(o.steps, step):
		return fmt.Errorf("task %d has no step %q (its steps: %s)", o.TaskID, step, strings.Join(o.steps, ", "))
	case o.steps != nil:
		why := "it was skipped (Skip), its handler returned nil, or it was resolved without results"
		if o.State != store.TaskComplete && o.State != store.TaskResolvedManually {
			why += fmt.Sprintf(", or it never ran (the task ended %s)", o.State)
		}
		return fmt.Errorf("task %d: step %q finished without a result: %s", o.TaskID, step, why)
	}
	have := "none has"
	if len(o.Results) > 0 {
		have = "those with one: " + strings.Join(slices.Sorted(maps.Keys(o.Results)), ", ")
	}
	return fmt.Errorf("task %d has no result for step %q (%s)", o.TaskID, step, have)
}

// Wait blocks until the task is complete, in error, cancelled or resolved,
// and returns its outcome (Outcome.Err says why a task did not complete).
// A handle from a Start of this engine keeps its task once this process
// learnt it whole as it became complete, cancelled or resolved (on
// Postgres, a commit of completions returns the tasks it finishes): a Wait
// after that reads nothing (an operator's forced cancel of a completed
// task, made later, is not seen through it). A read that fails for a
// transient reason (store.ErrRetryable: a dropped connection, a server
// restarting) is made again until ctx ends. A task its retention
// (ExecutionConfig.Retention) deleted before the Wait read it, and that
// the handle did not keep, is store.ErrNotFound, saying so.
func (h *TaskHandle) Wait(ctx context.Context) (*Outcome, error) {
	return h.e.wait(ctx, h.TaskID, h.identity, h.kept)
}

// checkPayload refuses a document over Config.MaxPayloadBytes.
func (e *Engine) checkPayload(what string, n int) error {
	if n > e.cfg.MaxPayloadBytes {
		return fmt.Errorf("%w: the %s is %d bytes, over the limit of %d bytes (Config.MaxPayloadBytes)", ErrPayloadTooLarge, what, n, e.cfg.MaxPayloadBytes)
	}
	return nil
}

// Wait blocks until a task finishes (see Handle.Wait). Tasks finished by
// this process wake it at once; others as soon as the store tells of a
// commit elsewhere (Postgres: NOTIFY; SQLite: within a millisecond), or at
// the poll interval on a store that cannot tell.
// A task that failed or was cancelled is an Outcome too: Outcome.Err
// returns why, as a *TaskError.
func (e *Engine) Wait(ctx context.Context, taskID int64) (*Outcome, error) {
	if err := checkTaskID(taskID); err != nil {
		return nil, fmt.Errorf("waiting for task %d: %w", taskID, err)
	}
	return e.wait(ctx, taskID, "", nil)
}

// taskDoneStore is a store that carries task completions between
// processes (Postgres: NOTIFY).
type taskDoneStore interface {
	AnnounceDone()
	TaskDone() (<-chan struct{}, func())
}

// wait is Wait; with identity set, the task must have that identity. A
// handle's slot (kept, may be nil) holds the task once a commit of this
// process finished it.
func (e *Engine) wait(ctx context.Context, taskID int64, identity string, kept *waiters.Slot) (*Outcome, error) {
	// Each look is one statement: the task's outcome, with its steps only
	// once it has finished (GetTaskOutcomes) — the first look, at a task
	// still running, reads no step. A commit that finished the task may
	// hand its outcome over (waiters.Waiter.Detail), or have left it in the
	// handle's slot: then there is nothing to read.
	var given *store.TaskOutcome
	if kept != nil {
		if d := kept.Load(); d != nil && d.ID == taskID { // not another run of the key
			given = d
		}
	}
	if e.far != nil && given == nil { // a task finished in another process
		defer e.far.Hold()()
	}
	failed := 0 // reads in a row that met a transient error
	seen := false
	for {
		ch := e.waiters.Add(taskID)
		d := given // shared with the task's other waiters: read only
		if d == nil {
			var err error
			if d, err = e.outcome(ctx, taskID); err != nil {
				e.waiters.Drop(taskID, ch)
				// A finished task is deleted once its retention passes,
				// whoever has not read it yet: "not found" alone read as
				// an id never used.
				if errors.Is(err, store.ErrNotFound) {
					why := "no task has this id: none was started with it, or it finished and was deleted once its retention passed (ExecutionConfig.Retention, or its workflow's)"
					if seen {
						why = "the task was deleted while this Wait waited: it finished, and its retention (ExecutionConfig.Retention, or its workflow's) passed before the Wait read it"
					}
					return nil, fmt.Errorf("waiting for task %d: %w (%s)", taskID, err, why)
				}
				if !errors.Is(err, store.ErrRetryable) || ctx.Err() != nil {
					return nil, fmt.Errorf("waiting for task %d: %w", taskID, err)
				}
				// A dropped connection, a restarting server: the task goes
				// on, so the wait does too — looking again soon, then at
				// the poll interval, until ctx ends.
				failed++
				pause := time.NewTimer(min(e.cfg.Execution.PollInterval, 10*time.Millisecond<<min(failed, 10)))
				select {
				case <-pause.C:
				case <-ctx.Done():
					pause.Stop()
					return nil, fmt.Errorf("waiting for task %d: %w (the last read: %v)", taskID, ctx.Err(), err)
				}
				continue
			}
			failed, seen = 0, true
		}
		if identity != "" && d.IdentityKey != identity && d.IdentityKey != retiredIdentity(taskID, identity) {
			e.waiters.Drop(taskID, ch)
			return nil, fmt.Errorf("waiting for task %d: %w: the task this handle started no longer exists (its start was rolled back) and the id now names another task", taskID, store.ErrNotFound)
		}
		if d.State.Done() {
			e.waiters.Drop(taskID, ch)
			out := &Outcome{TaskID: taskID, State: d.State, Results: map[string]json.RawMessage{}, Error: json.RawMessage(d.LastError),
				final: finalSteps(d), kind: d.Kind, name: d.Namespace + "/" + d.Name, steps: make([]string, 0, len(d.Steps))}
			for _, s := range d.Steps {
				out.steps = append(out.steps, s.Name)
				doc, err := e.decode(s.Results)
				if err != nil {
					return nil, fmt.Errorf("waiting for task %d: result of step %s: %w", taskID, s.Name, err)
				}
				if len(doc) > 0 && string(doc) != "null" {
					out.Results[s.Name] = json.RawMessage(doc)
				}
			}
			slices.Sort(out.steps)
			return out, nil
		}
		poll := time.NewTimer(e.cfg.Execution.PollInterval)
		given = nil
		select {
		case <-ch.C:
			given = ch.Detail
		case <-poll.C:
		case <-ctx.Done():
			poll.Stop()
			e.waiters.Drop(taskID, ch)
			return nil, ctx.Err()
		}
		poll.Stop()
		e.waiters.Drop(taskID, ch)
	}
}

// Err is nil when the task completed (or an operator resolved it), and
// otherwise a *TaskError saying why it did not: errors.Is(err,
// ErrStepFailed), errors.Is(err, ErrWorkflowTimeout), errors.Is(err,
// ErrCancelled) and errors.As(err, &stepErr) work in any process, since
// the failure is read from the database.
func (o *Outcome) Err() error {
	switch o.State {
	case store.TaskComplete, store.TaskResolvedManually:
		return nil
	}
	return &TaskError{TaskID: o.TaskID, State: o.State, Failure: decodeFailure(o.Error)}
}

// taskChanged wakes this process's waiters of the task and tells other
// processes' waiters to look.
func (e *Engine) taskChanged(taskID int64) { e.taskFinished(taskID, nil) }

// outcome reads one task's outcome (GetTaskOutcomes).
func (e *Engine) outcome(ctx context.Context, taskID int64) (*store.TaskOutcome, error) {
	got, err := e.st.GetTaskOutcomes(ctx, []int64{taskID})
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		return nil, fmt.Errorf("reading task %d: %w", taskID, store.ErrNotFound)
	}
	return got[0], nil
}

// taskFinished is taskChanged for a task that finished, handed to this
// process's waiters whole when d is not nil.
func (e *Engine) taskFinished(taskID int64, d *store.TaskOutcome) {
	e.waiters.NotifyDone(taskID, d)
	if ds, ok := e.st.(taskDoneStore); ok {
		ds.AnnounceDone()
	}
}

func (e *Engine) emit(ev Event) {
	if ev.At.IsZero() {
		ev.At = e.clk.Now()
	}
	if missed := e.bus.Publish(ev); missed > 0 {
		e.met.eventsDropped(missed)
	}
}
