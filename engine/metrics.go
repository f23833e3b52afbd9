package engine

import (
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/engine/internal/completer"
	"github.com/tasker-go/tasker/store"
)

// Metrics are an engine's Prometheus metrics. Make one with NewMetrics,
// register it on a registry (it is a prometheus.Collector) and pass it as
// Config.Metrics; several engines may share one, their counts adding up.
//
//	m := engine.NewMetrics()
//	prometheus.MustRegister(m) // or your own *prometheus.Registry
//	e, err := engine.New(engine.Config{Store: st, Metrics: m})
//
// The metrics (all prefixed tasker_):
//
//	tasks_started_total{workflow}            tasks created by Start, StartMany, Child,
//	                                         ContinueAsNew
//	tasks_completed_total{workflow}          tasks that completed
//	tasks_failed_total{workflow}             tasks that ended in error
//	tasks_cancelled_total{workflow}          tasks cancelled through the engine (not
//	                                         a finished task's forced cancel: its end
//	                                         was counted when it finished)
//	step_attempt_duration_seconds{workflow,step,outcome}
//	                                         one observation per attempt: outcome
//	                                         complete, error (retried if attempts
//	                                         remain), permanent (a permanent error),
//	                                         suspend (a code-first wait, or a step
//	                                         held back by its dependent system),
//	                                         abandoned (its task cancelled or its
//	                                         lease lost) or interrupted (shutdown); a
//	                                         code-first workflow's durable steps past
//	                                         the first 100 names it used (names made
//	                                         from data) share step="(other)"
//	step_retries_total{workflow}             failed attempts that scheduled a retry
//	leases_rescued_total                     expired leases the maintenance pass took back
//	results_discarded_total                  results dropped because their lease was lost
//	claim_transactions_total, finish_transactions_total
//	queue_ready_steps{queue}                 steps ready and not claimed
//	queue_oldest_ready_seconds{queue}        how long the oldest of them has been due
//	                                         (both 0 once a queue seen busy drains)
//	pool_connections{worker,pool,state}      the engine's database pools: in_use, idle
//	                                         (engines of one worker ID: the sum of
//	                                         their pools, each counted once); pool
//	                                         primary is the one writes go through
//	                                         (Store.DB; on Postgres, all of it), read
//	                                         an SQLite file's read pool (its in_use
//	                                         counts the connections pollers hold)
//	pool_waits_total{worker,pool}, pool_wait_seconds_total{worker,pool}
//	events_dropped_total                     lifecycle events a slow subscriber missed
//
// The two queue gauges are measured by the process that leads
// maintenance, every ExecutionConfig.RescueInterval (one query, whatever
// the number of processes); on Postgres other processes do not export
// them, while on SQLite every process leads and exports the same figures
// (aggregate them across processes with max, not sum). Engines sharing a
// Metrics export what they measured, each store once (its last measure;
// on different stores, a queue's ready steps add up and its oldest is the
// largest). The pool
// metrics describe engines while they run.
type Metrics struct {
	started, completed, failed, cancelled *labelled[wfLabel, prometheus.Counter]
	retries                               *labelled[wfLabel, prometheus.Counter]
	attempts                              *labelled[attemptLabels, prometheus.Observer]
	attemptVec                            *prometheus.HistogramVec
	startedVec, completedVec, failedVec   *prometheus.CounterVec
	cancelledVec, retriesVec              *prometheus.CounterVec
	rescued, discarded, claimTx, finishTx prometheus.Counter
	dropped                               prometheus.Counter
	ready, oldest                         *prometheus.GaugeVec

	poolConns, poolWaits, poolWaitSecs *prometheus.Desc

	stepsMu sync.Mutex
	steps   map[wfLabel]map[string]struct{} // the durable step names labelled, by workflow

	mu      sync.Mutex
	sources map[*Engine]struct{}    // running engines, whose pools are exported
	lags    map[*Engine]measuredLag // by leading engine, its queues' figures
	measure uint64                  // counts the measures, ordering them
}

// measuredLag is the queues' figures an engine measured on its store, and
// when among the others (the measure's number).
type measuredLag struct {
	db      *bun.DB
	n       uint64
	byQueue map[string]queueLag
}

// NewMetrics returns the engine metrics, registered nowhere yet.
func NewMetrics() *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tasker", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		startedVec:   counter("tasks_started_total", "Tasks created.", "workflow"),
		completedVec: counter("tasks_completed_total", "Tasks that completed.", "workflow"),
		failedVec:    counter("tasks_failed_total", "Tasks that ended in error.", "workflow"),
		cancelledVec: counter("tasks_cancelled_total", "Tasks cancelled through the engine.", "workflow"),
		retriesVec:   counter("step_retries_total", "Failed step attempts that scheduled a retry.", "workflow"),
		attemptVec: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "tasker", Name: "step_attempt_duration_seconds",
			Help:    "Duration of step attempts by outcome (complete, error, permanent, suspend, abandoned, interrupted).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"workflow", "step", "outcome"}),
		rescued:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tasker", Name: "leases_rescued_total", Help: "Expired leases taken back by the maintenance pass."}),
		discarded: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tasker", Name: "results_discarded_total", Help: "Step results dropped because their lease was lost."}),
		claimTx:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tasker", Name: "claim_transactions_total", Help: "Claim transactions attempted."}),
		finishTx:  prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tasker", Name: "finish_transactions_total", Help: "Finish (group commit) transactions attempted."}),
		ready:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "tasker", Name: "queue_ready_steps", Help: "Steps ready to run and not claimed (measured by the maintenance leader)."}, []string{"queue"}),
		oldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "tasker", Name: "queue_oldest_ready_seconds",
			Help: "Seconds since the oldest ready, unclaimed step of the queue was due (measured by the maintenance leader)."}, []string{"queue"}),
		poolConns:    prometheus.NewDesc("tasker_pool_connections", "Connections of a running engine's database pools (primary: writes; read: an SQLite file's reads).", []string{"worker", "pool", "state"}, nil),
		poolWaits:    prometheus.NewDesc("tasker_pool_waits_total", "Times a running engine waited for a database connection, by pool.", []string{"worker", "pool"}, nil),
		poolWaitSecs: prometheus.NewDesc("tasker_pool_wait_seconds_total", "Time a running engine spent waiting for database connections, by pool.", []string{"worker", "pool"}, nil),
		dropped:      prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tasker", Name: "events_dropped_total", Help: "Lifecycle events a slow subscriber missed."}),
		steps:        map[wfLabel]map[string]struct{}{},
		sources:      map[*Engine]struct{}{},
		lags:         map[*Engine]measuredLag{},
	}
	m.started = newLabelled(func(w wfLabel) prometheus.Counter { return m.startedVec.WithLabelValues(w.ns + "/" + w.name) })
	m.completed = newLabelled(func(w wfLabel) prometheus.Counter { return m.completedVec.WithLabelValues(w.ns + "/" + w.name) })
	m.failed = newLabelled(func(w wfLabel) prometheus.Counter { return m.failedVec.WithLabelValues(w.ns + "/" + w.name) })
	m.cancelled = newLabelled(func(w wfLabel) prometheus.Counter { return m.cancelledVec.WithLabelValues(w.ns + "/" + w.name) })
	m.retries = newLabelled(func(w wfLabel) prometheus.Counter { return m.retriesVec.WithLabelValues(w.ns + "/" + w.name) })
	m.attempts = newLabelled(func(k attemptLabels) prometheus.Observer {
		return m.attemptVec.WithLabelValues(k.ns+"/"+k.name, k.step, k.outcome)
	})
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.startedVec, m.completedVec, m.failedVec, m.cancelledVec, m.retriesVec, m.attemptVec,
		m.rescued, m.discarded, m.claimTx, m.finishTx, m.dropped, m.ready, m.oldest}
}

// unmade says why m cannot be registered or collected: nil, or not made
// by NewMetrics (a literal has none of its instruments); nil when it can.
func (m *Metrics) unmade() error {
	switch {
	case m == nil:
		return errors.New("engine.Metrics is nil: make it with engine.NewMetrics()")
	case m.started == nil:
		return errors.New("engine.Metrics was not made by NewMetrics (a zero Metrics has no instruments): use engine.NewMetrics()")
	}
	return nil
}

// Describe implements prometheus.Collector. A nil or zero Metrics
// describes an invalid descriptor, which Register returns as its error:
// it panicked, in the registry's own goroutine, and the process died.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	if err := m.unmade(); err != nil {
		ch <- prometheus.NewInvalidDesc(err)
		return
	}
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	ch <- m.poolConns
	ch <- m.poolWaits
	ch <- m.poolWaitSecs
}

// Collect implements prometheus.Collector. A nil or zero Metrics
// collects an invalid metric: the scrape fails, naming the mistake.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	if err := m.unmade(); err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewInvalidDesc(err), err)
		return
	}
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Engines of one process may share a worker ID (given the same
	// Config.WorkerID) and a pool (one store): a worker's series sum its distinct
	// pools, since a registry refuses a series collected twice, failing
	// the whole scrape.
	type pool struct {
		inUse, idle, waits int64
		waited             time.Duration
	}
	type workerPool struct{ worker, pool string }
	byWorker := map[workerPool]*pool{}
	add := func(w, name string, s sql.DBStats) {
		p := byWorker[workerPool{w, name}]
		if p == nil {
			p = &pool{}
			byWorker[workerPool{w, name}] = p
		}
		p.inUse += int64(s.InUse)
		p.idle += int64(s.Idle)
		p.waits += s.WaitCount
		p.waited += s.WaitDuration
	}
	type workerStore struct {
		worker string
		db     *bun.DB // a store's pools: those of its DB
	}
	seen := map[workerStore]bool{}
	for e := range m.sources {
		db, w := e.st.DB(), e.cfg.WorkerID
		if seen[workerStore{w, db}] {
			continue
		}
		seen[workerStore{w, db}] = true
		add(w, poolPrimary, db.Stats())
		if r, ok := e.st.(readPooled); ok {
			if s, ok := r.ReadStats(); ok {
				add(w, poolRead, s)
			}
		}
	}
	for k, p := range byWorker {
		ch <- prometheus.MustNewConstMetric(m.poolConns, prometheus.GaugeValue, float64(p.inUse), k.worker, k.pool, "in_use")
		ch <- prometheus.MustNewConstMetric(m.poolConns, prometheus.GaugeValue, float64(p.idle), k.worker, k.pool, "idle")
		ch <- prometheus.MustNewConstMetric(m.poolWaits, prometheus.CounterValue, float64(p.waits), k.worker, k.pool)
		ch <- prometheus.MustNewConstMetric(m.poolWaitSecs, prometheus.CounterValue, p.waited.Seconds(), k.worker, k.pool)
	}
}

// The pool label's values: the pool writes go through (Store.DB), and a
// read pool beside it (readPooled).
const (
	poolPrimary = "primary"
	poolRead    = "read"
)

// readPooled is a store that reads through a pool of its own beside its
// DB (sqlite.Store on a file): ReadStats returns that pool's figures, or
// false when the store has none.
type readPooled interface {
	ReadStats() (sql.DBStats, bool)
}

// attach exports a running engine's pool; detach stops, and drops the
// queue figures it measured as the leader.
func (m *Metrics) attach(e *Engine) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.sources[e] = struct{}{}
	m.mu.Unlock()
}

func (m *Metrics) detach(e *Engine) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.sources, e)
	m.mu.Unlock()
	m.queueLags(e, nil) // a stopped engine measures nothing any more
}

// The engine's hooks. Every method is a no-op on a nil *Metrics.

func (m *Metrics) startedTask(t *store.Task) {
	if m != nil {
		m.started.get(wfLabel{t.Namespace, t.Name}).Inc()
	}
}

func (m *Metrics) taskCancelled(t *store.Task) {
	if m != nil {
		m.cancelled.get(wfLabel{t.Namespace, t.Name}).Inc()
	}
}

func (m *Metrics) taskEnded(ns, name string, failed bool) {
	switch {
	case m == nil:
	case failed:
		m.failed.get(wfLabel{ns, name}).Inc()
	default:
		m.completed.get(wfLabel{ns, name}).Inc()
	}
}

func (m *Metrics) retried(ns, name string) {
	if m != nil {
		m.retries.get(wfLabel{ns, name}).Inc()
	}
}

// durableAttempt observes an attempt of a code-first durable step.
func (m *Metrics) durableAttempt(ns, name, step, outcome string, d time.Duration) {
	if m != nil {
		m.attempts.get(attemptLabels{ns, name, m.durableStep(wfLabel{ns, name}, step), outcome}).Observe(d.Seconds())
	}
}

// maxDurableSteps bounds the durable step names a code-first workflow's
// step label takes; later names are otherSteps.
const (
	maxDurableSteps = 100
	otherSteps      = "(other)"
)

// durableStep is a durable step's step label: its name, among the first
// maxDurableSteps names of its workflow seen here, else otherSteps. A
// name may be made from data (a step per item or per order), where a
// template's steps are its own few: each name would be series of its own,
// without bound, in the registry and in m.attempts.
func (m *Metrics) durableStep(w wfLabel, step string) string {
	m.stepsMu.Lock()
	defer m.stepsMu.Unlock()
	seen := m.steps[w]
	if _, ok := seen[step]; ok {
		return step
	}
	if len(seen) >= maxDurableSteps {
		return otherSteps
	}
	if seen == nil {
		seen = map[string]struct{}{}
		m.steps[w] = seen
	}
	seen[step] = struct{}{}
	return step
}

// outcomeLabel names how an attempt ended (see Metrics).
func outcomeLabel(o *completer.Outcome, kept bool) string {
	switch {
	case !kept:
		return "abandoned"
	case o.Release:
		return "interrupted"
	}
	switch o.Kind {
	case store.OutcomeComplete:
		return "complete"
	case store.OutcomeFail:
		return "permanent"
	case store.OutcomeSuspend:
		return "suspend"
	}
	return "error"
}

// stepAttempt observes a worker's attempt of a claimed step.
func (m *Metrics) stepAttempt(c *store.ClaimedStep, o *completer.Outcome, kept bool, d time.Duration) {
	if m == nil {
		return
	}
	k := attemptLabels{step: c.Step.Name, outcome: outcomeLabel(o, kept)}
	if c.Task != nil {
		k.ns, k.name = c.Task.Namespace, c.Task.Name
	}
	m.attempts.get(k).Observe(d.Seconds())
}

func (m *Metrics) eventsDropped(n int) {
	if m != nil {
		m.dropped.Add(float64(n))
	}
}

func (m *Metrics) leasesRescued(n int) {
	if m != nil && n > 0 {
		m.rescued.Add(float64(n))
	}
}

func (m *Metrics) resultDiscarded() {
	if m != nil {
		m.discarded.Inc()
	}
}

func (m *Metrics) claimTransaction() {
	if m != nil {
		m.claimTx.Inc()
	}
}

func (m *Metrics) finishTransaction() {
	if m != nil {
		m.finishTx.Inc()
	}
}

// queueLags sets the queues' figures e measured as the maintenance leader
// (a queue it measured before and finds drained at 0), or drops them (nil:
// e does not lead). The gauges hold what the engines sharing m measured,
// each store's once: one engine's pass leaves the others' figures be, the
// ready steps of different stores adding up, the oldest the largest.
// Engines of one store that all lead (on SQLite every process does, and
// so every engine of one) measure the same steps: the last measure of
// each store counts.
func (m *Metrics) queueLags(e *Engine, lags map[string]queueLag) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if lags == nil {
		delete(m.lags, e)
	} else {
		// A queue this engine measured before and finds drained reads 0
		// (the store reports only queues with steps ready): its series
		// vanished, a gap where the queue was empty.
		for q := range m.lags[e].byQueue {
			if _, ok := lags[q]; !ok {
				lags[q] = queueLag{}
			}
		}
		m.measure++
		m.lags[e] = measuredLag{db: e.st.DB(), n: m.measure, byQueue: lags}
	}
	m.ready.Reset()
	m.oldest.Reset()
	last := map[*bun.DB]measuredLag{}
	for _, l := range m.lags {
		if l.n > last[l.db].n {
			last[l.db] = l
		}
	}
	sum := map[string]queueLag{}
	for _, ml := range last {
		for q, l := range ml.byQueue {
			t := sum[q]
			sum[q] = queueLag{ready: t.ready + l.ready, age: max(t.age, l.age)}
		}
	}
	for q, l := range sum {
		m.ready.WithLabelValues(q).Set(float64(l.ready))
		m.oldest.WithLabelValues(q).Set(l.age.Seconds())
	}
}

type attemptLabels struct{ ns, name, step, outcome string }

// wfLabel is a workflow label ("namespace/name") kept in two parts, so
// looking it up builds no string.
type wfLabel struct{ ns, name string }

type queueLag struct {
	ready int
	age   time.Duration
}

// labelled caches the child instrument of each label value, so the hot
// path does a map read under a read lock: no label slice or map is built
// per observation once a value has been seen.
type labelled[K comparable, T any] struct {
	mu   sync.RWMutex
	m    map[K]T
	make func(K) T
}

func newLabelled[K comparable, T any](mk func(K) T) *labelled[K, T] {
	return &labelled[K, T]{m: map[K]T{}, make: mk}
}

func (l *labelled[K, T]) get(k K) T {
	l.mu.RLock()
	v, ok := l.m[k]
	l.mu.RUnlock()
	if ok {
		return v
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok := l.m[k]; ok {
		return v
	}
	v = l.make(k)
	l.m[k] = v
	return v
}
