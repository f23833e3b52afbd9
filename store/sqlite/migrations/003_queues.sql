-- Routing: a task belongs to a queue and has a priority; its steps carry
-- both so the claim filters and orders on the steps table alone.
ALTER TABLE tasker_tasks ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE tasker_steps ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE tasker_steps ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
-- Fleet-wide concurrency: a step in a concurrency group runs only while
-- fewer than conc_max steps of its group run, across every process.
ALTER TABLE tasker_steps ADD COLUMN conc_group TEXT;
ALTER TABLE tasker_steps ADD COLUMN conc_max INTEGER NOT NULL DEFAULT 0;
-- One row per group: claimers lock it to count the group's running steps.
CREATE TABLE tasker_conc_groups (name TEXT PRIMARY KEY);
-- The claim: ready steps of one queue, highest priority first, then FIFO;
-- steps in a concurrency group have their own index (claimed after a
-- count), so the common claim never walks past steps held back by a limit.
CREATE INDEX tasker_steps_claim ON tasker_steps (queue, priority DESC, next_attempt_at, id)
    WHERE state = 'pending' AND pending_deps = 0 AND conc_group IS NULL;
CREATE INDEX tasker_steps_claim_grouped ON tasker_steps (queue, priority DESC, next_attempt_at, id)
    WHERE state = 'pending' AND pending_deps = 0 AND conc_group IS NOT NULL;
CREATE INDEX tasker_steps_running_group ON tasker_steps (conc_group)
    WHERE state = 'in_progress' AND conc_group IS NOT NULL;
