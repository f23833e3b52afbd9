package engine

import (
	"context"
	"errors"
	"sync"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

// recorder groups attempts of durable steps (completed or failed, first
// ones and retries) from concurrent workflow drivers into one
// transaction. It is leader/follower group commit with no goroutine of its
// own: the first caller with nothing in flight commits everything queued
// so far, and keeps committing what queues up meanwhile; the others wait
// for their result.
type recorder struct {
	mu       sync.Mutex
	queue    []*recordReq
	flushing bool
}

type recordReq struct {
	p    *store.RecordStepParams
	done chan struct{}
	st   *store.Step
	err  error
}

// recordGrouped records an attempt of a durable step, grouped with
// others' (see store.RecordAttempts).
func (e *Engine) recordGrouped(ctx context.Context, p *store.RecordStepParams) (*store.Step, error) {
	r := &e.rec
	req := &recordReq{p: p, done: make(chan struct{})}
	r.mu.Lock()
	r.queue = append(r.queue, req)
	if r.flushing {
		r.mu.Unlock()
		<-req.done
		return req.st, req.err
	}
	r.flushing = true
	for len(r.queue) > 0 {
		batch := r.queue
		r.queue = nil
		r.mu.Unlock()
		e.flushRecords(ctx, batch)
		r.mu.Lock()
	}
	r.flushing = false
	r.mu.Unlock()
	return req.st, req.err
}

func (e *Engine) flushRecords(ctx context.Context, batch []*recordReq) {
	params := make([]*store.RecordStepParams, len(batch))
	for i, req := range batch {
		params[i] = req.p
	}
	res, err := e.st.RecordAttempts(ctx, params)
	for i, req := range batch {
		if err != nil {
			// The group failed as a whole (nothing written): record each
			// alone, so one odd item cannot hold back the others.
			req.st, req.err = e.st.RecordStep(ctx, req.p)
		} else {
			req.st, req.err = res[i].Step, res[i].Err
		}
		close(req.done)
	}
}

// recordHeld writes the records a driver held back (see recordCompleted)
// when its outcome is not committed: its attempt was abandoned or its
// lease released. A lost lease writes nothing; the steps run again when
// the workflow resumes, as any unrecorded step does.
func (e *Engine) recordHeld(ctx context.Context, recs []*store.RecordStepParams) {
	for _, p := range recs {
		if _, err := e.recordGrouped(ctx, p); err != nil && !errors.Is(err, store.ErrLeaseLost) {
			e.log.Warn("recording a durable step failed; it runs again when its workflow resumes",
				zap.Int64("task_id", p.TaskID), zap.String("step", p.Name), zap.Error(err))
		}
	}
}
