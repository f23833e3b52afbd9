package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

// WorkerInfo is a running engine as the worker registry records it. Each
// engine records itself when Run starts, refreshes the record with every
// lease heartbeat (every third of Execution.LeaseTTL) and deletes it when
// Run ends; a record not refreshed for WorkerTTLFactor lease TTLs has
// expired (the process stopped without saying so) and is no longer listed.
type WorkerInfo struct {
	ID string `json:"id"` // Config.WorkerID
	// Queues are the queues the worker claims from.
	Queues []string `json:"queues"`
	// Handlers are the handler names it runs: DAG step handlers and the
	// drivers of code-first workflows (WorkflowHandlerPrefix + "ns/name").
	Handlers    []string  `json:"handlers"`
	Version     string    `json:"version"`     // Config.Version ("" when unset)
	Concurrency int       `json:"concurrency"` // Execution.MaxConcurrency
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// WorkerTTLFactor: a registry record expires WorkerTTLFactor ×
// Execution.LeaseTTL after its last heartbeat.
const WorkerTTLFactor = 3

// workerReg is this engine's registry record between refreshes.
type workerReg struct {
	mu      sync.Mutex
	started time.Time // as the first registration of this Run recorded it
	active  bool      // registered by this Run and not yet deregistered
}

// Workers lists the live workers of the registry, by id: every engine
// running against this store (this one included while Run is active),
// once per WorkerID (of engines sharing one, the one that started last:
// see Config.WorkerID).
func (e *Engine) Workers(ctx context.Context) ([]WorkerInfo, error) {
	ws, err := e.st.ListWorkers(ctx, &store.ListWorkersParams{Now: e.now()})
	if err != nil {
		return nil, fmt.Errorf("listing workers: %w", err)
	}
	out := make([]WorkerInfo, len(ws))
	for i, w := range ws {
		out[i] = WorkerInfo(*w)
	}
	return out, nil
}

// workerParams is this engine's registry record as of now.
func (e *Engine) workerParams(started time.Time) *store.RegisterWorkerParams {
	return &store.RegisterWorkerParams{ID: e.cfg.WorkerID, Queues: e.cfg.Execution.Queues, Handlers: e.Handlers(),
		Version: e.cfg.Version, Concurrency: e.cfg.Execution.MaxConcurrency, StartedAt: started,
		TTL: WorkerTTLFactor * e.cfg.Execution.LeaseTTL, Now: e.now()}
}

// registerWorker records this engine in the registry as Run starts. The
// registry is advisory (Explain and operators read it; claims do not), so
// a failure is logged and the run goes on; the next heartbeat tries again.
func (e *Engine) registerWorker(ctx context.Context) {
	e.wreg.mu.Lock()
	defer e.wreg.mu.Unlock()
	e.wreg.active, e.wreg.started = true, time.Time{}
	e.recordWorker(ctx)
}

// beatWorker refreshes the record on a heartbeat (the maintainer's Beat
// hook), with the handlers registered by now.
func (e *Engine) beatWorker(ctx context.Context) {
	e.wreg.mu.Lock()
	defer e.wreg.mu.Unlock()
	if e.wreg.active {
		e.recordWorker(ctx)
	}
}

// recordWorker writes the record; the caller holds wreg.mu.
func (e *Engine) recordWorker(ctx context.Context) {
	rec, err := e.st.RegisterWorker(ctx, e.workerParams(e.wreg.started))
	if errors.Is(err, store.ErrConflict) {
		// Another process runs under this WorkerID and registered after
		// this one: the record is its own, and this engine is not
		// listed while it runs (each heartbeat tries again).
		e.log.Error("this worker is not in the registry: another process running with the same WorkerID holds its record; give each process its own Config.WorkerID",
			zap.String("worker", e.cfg.WorkerID), zap.Error(err))
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("recording this worker in the registry failed", zap.String("worker", e.cfg.WorkerID), zap.Error(err))
		}
		return
	}
	e.wreg.started = rec.StartedAt
}

// deregisterWorker deletes the record as Run ends.
func (e *Engine) deregisterWorker(ctx context.Context) {
	w := &e.wreg
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active = false
	if w.started.IsZero() {
		return // never recorded (the registrations failed): nothing of ours to delete
	}
	// Only this run's record: not one another process under the same ID
	// registered since.
	if err := e.st.DeregisterWorker(ctx, &store.DeregisterWorkerParams{ID: e.cfg.WorkerID, StartedAt: w.started}); err != nil {
		e.log.Warn("removing this worker from the registry failed; its record expires by itself", zap.String("worker", e.cfg.WorkerID), zap.Error(err))
	}
}
