-- Routing: a task belongs to a queue and has a priority; its steps carry
-- both so the claim filters and orders on the steps table alone.
ALTER TABLE tasker_tasks ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE tasker_steps ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE tasker_steps ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
-- The claim: ready steps of one queue, highest priority first, then FIFO.
CREATE INDEX tasker_steps_claim ON tasker_steps (queue, priority DESC, next_attempt_at, id)
    WHERE state = 'pending' AND pending_deps = 0;
