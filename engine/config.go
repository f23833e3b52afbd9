package engine

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
)

// Config configures an Engine. Only Store is required; the defaults suit a
// laptop. An interface field (Store, TracerProvider, Clock, Codec,
// CacheStore) holding a nil pointer is refused, naming the field.
type Config struct {
	Store store.Store
	// Logger receives the engine's logs, with task, step and attempt on
	// every line about one. Set Logger or Slog, not both. With neither,
	// the engine writes warnings and errors to standard error: only what
	// it cannot report any other way (a commit that failed and will run
	// its steps again, a lease it could not extend, a failed rescue or
	// election, results discarded after a lost lease). Failures of steps
	// and tasks are not among them — Wait, Explain and the events report
	// those — and are logged at info. Pass zap.NewNop() for silence. A
	// zero zap.Logger (a literal, with no core) is refused.
	Logger *zap.Logger
	// Slog, for applications on log/slog: the engine's lines go to its
	// handler (levels mapped one to one; zap's DPanic and above are
	// slog.LevelError). A zero slog.Logger (no handler) is refused.
	Slog *slog.Logger
	// Metrics, when set, receives the engine's metrics (see NewMetrics);
	// several engines may share one. One not made by NewMetrics (a zero
	// Metrics) is refused.
	Metrics *Metrics
	// TracerProvider receives the engine's OpenTelemetry spans: a span
	// per Start, per step attempt (code-first drivers included), per
	// durable step, sleep, event wait and child of a code-first workflow,
	// and per task run. Nil uses the global provider (otel.GetTracerProvider),
	// a no-op until the application installs one. A Start made under a
	// span stores its trace context with the task, and whichever process
	// runs the task's steps continues that trace. One that panics making
	// the engine's tracer (a zero sdktrace.TracerProvider) is refused.
	TracerProvider trace.TracerProvider
	// WorkerID names this engine in leases, leaderships (followed by
	// "#" and a random suffix of the engine's own, so engines sharing an
	// ID never lead together), the worker registry and logs (default
	// host-pid for the process's first engine, host-pid-2, -3… for the
	// next). Engines sharing an ID share one registry record: the one
	// that started last holds it, and the others log an error at each
	// heartbeat, unlisted until it stops. Give each process its own.
	WorkerID string
	// Version is the application's build or version (say, a git
	// describe), shown for this process in the worker registry
	// (Engine.Workers, `tasker workers`) so a rolling deploy's old and new
	// workers can be told apart. Optional.
	Version   string
	Execution ExecutionConfig
	// Retry is the default backoff for steps that do not set their own
	// (Base and Max each 0 for the default, or at least a millisecond).
	Retry retry.Policy
	// Clock replaces the wall clock (testkit uses a fake one). It also says
	// which clock the store uses (see Clock.StoreNow).
	Clock Clock
	// MaxPayloadBytes bounds a step's result (DAG or durable), a task's
	// input, an event's payload, an update's argument and answer, a query
	// state and the results an operator resolves a step with, as stored —
	// encoded, when Codec is set (default and most 8 MiB,
	// store.MaxJSONBytes). An oversized result fails its own step with a
	// permanent error (kind payload_too_large) and nothing else; an
	// oversized input, event payload, update argument or resolved result
	// is refused with ErrPayloadTooLarge by the call that gave it (Start,
	// SendEvent, Update, Resolve), and a query state or update answer
	// fails its workflow (SetQueryState, Reply).
	MaxPayloadBytes int
	// Codec, when set, encodes (compresses, encrypts) every payload the
	// engine stores and decodes it when read; see Codec. Every process
	// sharing the database needs the same one. A Codec whose Name is
	// empty, holds a NUL byte or is not UTF-8 is refused.
	Codec Codec
	// Cache configures caching and coordination. The default is local
	// only (ristretto, in process); Cache.Distributed = "redis://…" shares
	// dependent systems' back-off and toggles among every process using
	// that Redis — and only then is Redis contacted.
	Cache cachex.Config
	// CacheStore, when set, is used instead of building one from Cache
	// (the caller closes it); setting both is refused.
	CacheStore cachex.Cache
	// Breaker tunes the circuit breaker per dependent system.
	Breaker cachex.BreakerConfig
	// PredictiveRetry bounds the delays of the predictive retry (on per
	// template with Template.PredictiveRetry, or for every workflow with
	// the predictive_retry toggle).
	PredictiveRetry PredictiveRetryConfig
	// DiagnosisRules are added after the engine's own rules when a failed
	// attempt is diagnosed (see Diagnosis).
	DiagnosisRules []DiagnosisRule
	// AdaptiveTTL tunes the TTLs of the values the engine caches (the
	// predictive retry's history, the performance report) while the
	// adaptive_ttl toggle is on; with it off they keep fixed TTLs. Each
	// value's TTL is capped (step_history at 5 min, report at 2 min), so a
	// Min or Max above 5 min is refused: it would do nothing above it.
	AdaptiveTTL cachex.AdaptiveTTLConfig
}

// PredictiveRetryConfig bounds the predictive retry's delays.
type PredictiveRetryConfig struct {
	// Min and Max bound a predicted delay (defaults 1 s and 5 min, the
	// plan's). Each is 0 (its default) or at least a millisecond: a bare
	// number is nanoseconds (Min: 2 is 2 ns, not 2 s), so a shorter one is
	// refused. A delay the failing code asked for (engine.Retryable with
	// a delay) is not predicted and not bounded by these.
	Min, Max time.Duration
}

// Clock is the engine's time source. The wall clock is the default; testkit
// supplies a fake one. StoreNow carries the choice between the database's
// time and the process's: the wall clock returns the zero time, so every
// write uses the database's clock (on Postgres, one clock for every
// process); a clock that returns its own time makes the store use it. A
// custom clock therefore states its choice — it cannot switch a Postgres
// deployment to process time by accident.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
	// StoreNow is the time handed to the store with a write, or the zero
	// time for "the database's own clock".
	StoreNow() time.Time
}

// Retention choices (see ExecutionConfig.Retention).
const (
	// DefaultRetention keeps finished tasks 7 days: the predictive
	// retry's history looks back that far, a report's trend compares
	// with the window before, and a week covers an incident found after
	// a weekend. River keeps completed jobs 24 h, but its jobs carry no
	// audit trail anyone reads afterwards; ours do (History, Explain).
	// At a steady 330 starts/s that is ~38 GB a day on SQLite: set a
	// shorter one at such rates.
	DefaultRetention = 7 * 24 * time.Hour
	// KeepForever deletes no finished task.
	KeepForever = store.KeepForever
)

// MinPollInterval is the shortest ExecutionConfig.PollInterval: a
// shorter one would have idle workers (and waiters) query the database in
// a loop.
const MinPollInterval = time.Millisecond

// MinLeaseTTL is the shortest ExecutionConfig.LeaseTTL. A claim's lease is
// kept by a heartbeat every third of it, a write to the database: a lease
// much shorter is lost to one slow heartbeat, a garbage collection or a
// loaded machine, and the rescue then takes the running step for another
// attempt while the first still runs.
const MinLeaseTTL = 100 * time.Millisecond

// MaxInterval is the longest ExecutionConfig.LeaseTTL, RescueInterval and
// ScheduleInterval: three of each must fit in a time.Duration (a worker
// registry record lives three lease TTLs, a leadership three intervals),
// else the product wraps negative and the store refuses it. About 97
// years.
const MaxInterval = time.Duration(math.MaxInt64 / 3)

// defaultMaxConcurrency is ExecutionConfig.MaxConcurrency when it is 0.
const defaultMaxConcurrency = 32

// MaxConcurrencyLimit is the largest ExecutionConfig.MaxConcurrency (and
// MinConcurrency): Run allocates its completion buffer for four outcomes
// per slot up front, so a larger limit allocated gigabytes before running
// anything, and past about 10^11 panicked (makechan: size out of range).
// A million handlers at once is past what one process serves.
const MaxConcurrencyLimit = 1 << 20

// ExecutionConfig tunes workers. A duration in it is 0 (its default) or at
// least a millisecond: a bare number is nanoseconds (LeaseTTL: 30 is 30 ns,
// not 30 s), so a shorter one is refused. LeaseTTL, RescueInterval and
// ScheduleInterval are at most MaxInterval.
type ExecutionConfig struct {
	// MinConcurrency and MaxConcurrency bound the handlers running at once
	// (defaults 1 and 32; at most MaxConcurrencyLimit). The limit is
	// MaxConcurrency unless the dynamic_concurrency toggle is on (cachex.ToggleDynamicConcurrency,
	// see Engine.SetToggle): then, on PostgreSQL, it starts at 60 % of the
	// pool's connections and moves between the two every TuneInterval with
	// the pool's pressure and with how handlers spend their time (waiting
	// handlers may outnumber the connections, computing ones may not);
	// Status().Concurrency says where it is and why. On SQLite, whose
	// writes all go through one connection, it stays at MaxConcurrency.
	MinConcurrency int
	MaxConcurrency int
	// TuneInterval is how often the concurrency limit, the pool's pressure
	// and the toggles of the two are re-read (default 1 s).
	TuneInterval time.Duration
	// BatchSize is the most steps claimed in one transaction (default 100;
	// at most store.MaxCount).
	// With the adaptive_batching toggle on (ToggleAdaptiveBatching) the
	// claim loop picks its size up to this from its earlier claims'
	// outcomes; Status().Batch says which and why.
	BatchSize int
	// LeaseTTL is how long a claim lasts without a heartbeat (default 30 s;
	// at least MinLeaseTTL); heartbeats run every LeaseTTL/3.
	LeaseTTL time.Duration
	// PollInterval is how often idle workers look for work created by other
	// processes (default 1 s; at least MinPollInterval). Work created in this
	// process wakes them at once.
	PollInterval time.Duration
	// RescueInterval is how often the maintenance pass runs (default 5 s),
	// in the one process that leads it (on SQLite, every process: one
	// writes; on Postgres, elected, the leadership lasting three
	// intervals): it rescues expired leases, fails tasks past their
	// WithWorkflowTimeout, cancels the unfinished children of parents
	// that ended for good, deletes by Retention and measures the queues'
	// lag for the metrics. Engine.Rescue runs its first three now.
	RescueInterval time.Duration
	// ScheduleInterval is how often the process that fires schedules
	// looks at them when no tick is due sooner (a firing that failed is
	// tried again after one), and how often the others ask to take over
	// from it (default 1 s; the leadership lasts three intervals, so a
	// dead leader's ticks fire late by at most four: the three and the
	// interval until the next process asks).
	ScheduleInterval time.Duration
	// Retention deletes tasks that finished (complete, cancelled,
	// resolved by hand) longer ago than this, with their steps,
	// transitions and events; tasks in error wait for an operator and are
	// kept, as is a child until its parent has finished (the parent reads
	// the child's outcome when it resumes) and a parent until its children
	// have (or were cancelled with it). Default DefaultRetention (7
	// days); KeepForever deletes nothing.
	// Deleted, a task's outcome is gone: a Wait or Result that reads it
	// later (another process, a handle of GetWorkflow) is
	// store.ErrNotFound, saying so; only a handle of a Start in this
	// process that saw the task finish keeps it. Keep finished tasks
	// longer than their readers take to read them: no floor guards a
	// retention of seconds, which a caller reading at once may want.
	// The maintenance leader deletes in small batches, a bounded number
	// per pass, so claims never wait long behind it.
	Retention time.Duration
	// DefaultTimeout bounds a step attempt when its template sets none,
	// and a durable step's attempt without WithStepTimeout (default 0:
	// none). A code-first workflow's run as a whole is not bounded by it:
	// it runs its durable steps one after another.
	DefaultTimeout time.Duration
	// Queues are the queues this engine's workers claim from (default
	// ["default"]). Within them a worker claims only steps whose handler
	// (or code-first workflow) it has registered. A queue with spaces around
	// it is refused.
	Queues []string
}

// defaultIDs counts the engines of this process that took the default
// WorkerID.
var defaultIDs atomic.Int64

func (c *Config) withDefaults() Config {
	out := *c
	if out.Logger == nil {
		out.Logger = defaultLogger(out.Slog)
	}
	if out.WorkerID == "" {
		host, _ := os.Hostname()
		out.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
		if n := defaultIDs.Add(1); n > 1 {
			out.WorkerID += fmt.Sprintf("-%d", n)
		}
	}
	if out.Clock == nil {
		out.Clock = clock.Real{}
	}
	if out.MaxPayloadBytes == 0 {
		out.MaxPayloadBytes = store.MaxJSONBytes
	}
	e := &out.Execution
	if e.MinConcurrency == 0 {
		e.MinConcurrency = 1
	}
	if e.MaxConcurrency == 0 {
		e.MaxConcurrency = defaultMaxConcurrency
	}
	if e.BatchSize == 0 {
		e.BatchSize = 100
	}
	if e.LeaseTTL == 0 {
		e.LeaseTTL = 30 * time.Second
	}
	if e.PollInterval == 0 {
		e.PollInterval = time.Second
	}
	if e.RescueInterval == 0 {
		e.RescueInterval = 5 * time.Second
	}
	if e.TuneInterval == 0 {
		e.TuneInterval = time.Second
	}
	if e.ScheduleInterval == 0 {
		e.ScheduleInterval = time.Second
	}
	if e.Retention == 0 {
		e.Retention = DefaultRetention
	}
	if len(e.Queues) == 0 {
		e.Queues = []string{store.DefaultQueue}
	} else {
		e.Queues = slices.Clone(e.Queues)
	}
	out.Retry = out.Retry.WithDefaults()
	return out
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("config: Store is required"))
	} else if isNilPointer(c.Store) {
		errs = append(errs, fmt.Errorf("config: Store is a nil %T", c.Store))
	}
	return errors.Join(append(errs, c.validateSettings())...)
}

// isNilPointer reports whether v, an interface holding something, holds a
// nil pointer (or another nil of a kind that has one): such a field passes
// a "!= nil" check and panics when used.
func isNilPointer(v any) bool {
	switch r := reflect.ValueOf(v); r.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return r.IsNil()
	}
	return false
}

// validateSettings is Validate but for Store.
func (c *Config) validateSettings() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Logger != nil && c.Slog != nil {
		bad("config: Logger and Slog are both set; set one")
	}
	// A literal (&zap.Logger{}, &slog.Logger{}) has no core or handler:
	// the first line logged, on a worker's goroutine, would panic.
	if c.Logger != nil && c.Logger.Core() == nil {
		bad("config: Logger is a zero zap.Logger (it has no core); make one with zap.New, zap.NewProduction or zap.NewNop")
	}
	if c.Slog != nil && c.Slog.Handler() == nil {
		bad("config: Slog is a zero slog.Logger (it has no handler); make one with slog.New")
	}
	if c.Metrics != nil && c.Metrics.started == nil {
		// A literal (&Metrics{}) has no instruments: the first task
		// counted would panic, as would a registry collecting it.
		bad("config: Metrics was not made by NewMetrics (a zero Metrics has no instruments); use engine.NewMetrics()")
	}
	// The interface fields but Store (Validate's) and Codec (below).
	for _, f := range []struct {
		name string
		v    any
	}{{"TracerProvider", c.TracerProvider}, {"Clock", c.Clock}, {"CacheStore", c.CacheStore}} {
		if f.v != nil && isNilPointer(f.v) {
			bad("config: %s is a nil %T", f.name, f.v)
		}
	}
	e := c.Execution
	for _, f := range []struct {
		name string
		v    int
	}{{"min concurrency", e.MinConcurrency}, {"max concurrency", e.MaxConcurrency}, {"batch size", e.BatchSize}} {
		if f.v < 0 {
			bad("config: execution %s %d is negative (0 for the default)", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"min concurrency", e.MinConcurrency}, {"max concurrency", e.MaxConcurrency}} {
		if f.v > MaxConcurrencyLimit {
			bad("config: execution %s %d is above %d (engine.MaxConcurrencyLimit)", f.name, f.v, MaxConcurrencyLimit)
		}
	}
	if e.BatchSize > store.MaxCount {
		bad("config: execution batch size %d is above %d (store.MaxCount, the most steps a claim takes)", e.BatchSize, store.MaxCount)
	}
	if maxC := cmp.Or(e.MaxConcurrency, defaultMaxConcurrency); e.MaxConcurrency >= 0 && e.MinConcurrency > maxC {
		bad("config: execution min concurrency %d exceeds max %d", e.MinConcurrency, maxC)
	}
	for _, f := range []struct{ what, v string }{{"worker ID", c.WorkerID}, {"version", c.Version}} {
		if msg := checkName("config: "+f.what, f.v); f.v != "" && msg != "" {
			bad("%s (the store would refuse it)", msg)
		}
	}
	if e.Retention < 0 && e.Retention != KeepForever {
		bad("config: execution retention must be positive, or KeepForever, got %s", e.Retention)
	}
	// The durations in declaration order (a slice, not a map: the joined
	// error reads the same every time).
	durations := []struct {
		name string
		d    time.Duration
	}{{"tune interval", e.TuneInterval}, {"lease TTL", e.LeaseTTL}, {"poll interval", e.PollInterval}, {"rescue interval", e.RescueInterval}, {"schedule interval", e.ScheduleInterval}, {"retention", e.Retention}, {"default timeout", e.DefaultTimeout}}
	for _, f := range durations {
		if f.d < 0 && f.name != "retention" { // (retention has KeepForever, above)
			bad("config: execution %s must not be negative, got %s", f.name, f.d)
		}
	}
	for _, f := range durations {
		if f.name == "poll interval" { // (it has its own floor, below)
			continue
		}
		if err := underAMillisecond(f.name, f.d); err != nil {
			bad("config: execution %v", err)
		}
	}
	if e.LeaseTTL >= time.Millisecond && e.LeaseTTL < MinLeaseTTL {
		bad("config: execution lease TTL %s is below %s (MinLeaseTTL): heartbeats, every third of it, could not keep it, and running steps would be rescued for another attempt", e.LeaseTTL, MinLeaseTTL)
	}
	for _, f := range []struct {
		name, why string
		d         time.Duration
	}{{"lease TTL", "a worker registry record lives three", e.LeaseTTL}, {"rescue interval", "the maintenance leadership lasts three", e.RescueInterval},
		{"schedule interval", "the schedules' leadership lasts three", e.ScheduleInterval}} {
		if f.d > MaxInterval {
			bad("config: execution %s %s is too long: %s, past time.Duration's range (at most %s, MaxInterval)", f.name, f.d, f.why, MaxInterval)
		}
	}
	if e.PollInterval > 0 && e.PollInterval < MinPollInterval {
		bad("config: execution poll interval %s is below %s (MinPollInterval): idle workers would spin on the database", e.PollInterval, MinPollInterval)
	}
	seenQueue := map[string]bool{}
	for i, q := range e.Queues {
		switch {
		case q == "":
			bad("config: execution queues[%d] is empty", i)
		case len(q) > store.MaxNameLen || strings.ContainsRune(q, 0) || !utf8.ValidString(q):
			bad("config: execution queues[%d] %.40q is not a valid queue name (at most %d bytes of UTF-8, no NUL)", i, q, store.MaxNameLen)
		case strings.TrimSpace(q) != q:
			bad("config: execution queues[%d]: %s", i, checkName("queue", q))
		case seenQueue[q]:
			bad("config: execution queues[%d] %q is listed twice", i, q)
		}
		seenQueue[q] = true
	}
	if c.MaxPayloadBytes < 0 || c.MaxPayloadBytes > store.MaxJSONBytes {
		bad("config: max payload bytes must be between 1 and %d (store.MaxJSONBytes), got %d", store.MaxJSONBytes, c.MaxPayloadBytes)
	}
	if c.Codec != nil {
		// An envelope without a codec name reads as a payload of the
		// application's own (see Engine.decode): every payload would be
		// read back as its envelope.
		if isNilPointer(c.Codec) {
			bad("config: Codec is a nil %T", c.Codec)
		} else if name := c.Codec.Name(); name == "" {
			bad("config: Codec's Name() is empty: it names the encoding in every stored envelope, and one without a name would be read back as the payload itself")
		} else if strings.IndexByte(name, 0) >= 0 || !utf8.ValidString(name) {
			// Stored in every envelope: the store refuses a NUL, and
			// invalid UTF-8 is stored replaced, read back as another
			// codec's name.
			bad("config: %s: it names the encoding in every stored envelope", checkName("Codec's Name()", name))
		}
	}
	if err := c.Retry.Validate(); err != nil {
		bad("config: %w", err)
	}
	if err := c.Cache.Validate(); err != nil {
		bad("config: cache: %w", err)
	}
	if c.CacheStore != nil && !reflect.ValueOf(c.Cache).IsZero() {
		bad("config: Cache and CacheStore are both set: CacheStore is used and Cache would be ignored; set one")
	}
	if err := c.Breaker.Validate(); err != nil {
		bad("config: breaker: %w", err)
	}
	if err := c.PredictiveRetry.validate(); err != nil {
		bad("config: predictive retry: %w", err)
	}
	if err := c.AdaptiveTTL.Validate(); err != nil {
		bad("config: adaptive TTL: %w", err)
	}
	// Each family's TTL is capped (valcache.Family.Max): past the longest
	// cap, a Min or Max does nothing.
	ceiling := max(familyHistory.Max, familyReport.Max)
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"min", c.AdaptiveTTL.Min}, {"max", c.AdaptiveTTL.Max}} {
		if f.d > ceiling {
			bad("config: adaptive TTL: %s %s is above %s, the longest TTL the engine gives a cached value (%s %s, %s %s): it would do nothing above it",
				f.name, f.d, ceiling, familyHistory.Name, familyHistory.Max, familyReport.Name, familyReport.Max)
		}
	}
	errs = append(errs, validateRules(c.DiagnosisRules)...)
	return errors.Join(errs...)
}

// underAMillisecond refuses a positive duration under a millisecond, named
// name, or returns nil: a bare number is nanoseconds, so such a value is a
// mistake (Timeout: 30 is 30 ns).
func underAMillisecond(name string, d time.Duration) error {
	if d <= 0 || d >= time.Millisecond {
		return nil
	}
	return fmt.Errorf("%s %s is under a millisecond: a bare number is nanoseconds (write 30 * time.Second, not 30)", name, d)
}
