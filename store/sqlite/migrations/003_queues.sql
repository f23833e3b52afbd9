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
-- Rate limits: a step calling a rate-limited system takes a token from
-- the system's bucket in the claim transaction.
ALTER TABLE tasker_steps ADD COLUMN rate_system TEXT;
CREATE TABLE tasker_rate_limits (
    name       TEXT PRIMARY KEY,
    per_second REAL NOT NULL,
    burst      INTEGER NOT NULL,
    tokens     REAL NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- The claim reads ready steps on tasker_steps_ready (next_attempt_at, id),
-- FIFO, as before queues existed: a queue and a handler are filters there.
-- Steps with a priority above 0 have their own index, in claim order, read
-- first; gated steps (in a concurrency group or calling a rate-limited
-- system) theirs, claimed after a count or a token. Both hold only their
-- own rows, so a step that uses neither costs no index beyond the one it
-- always had, and the common claim never walks past steps held back by a
-- limit.
CREATE INDEX tasker_steps_claim_priority ON tasker_steps (queue, priority DESC, next_attempt_at, id)
    WHERE state = 'pending' AND pending_deps = 0 AND priority > 0 AND conc_group IS NULL AND rate_system IS NULL;
CREATE INDEX tasker_steps_claim_gated ON tasker_steps (queue, priority DESC, next_attempt_at, id)
    WHERE state = 'pending' AND pending_deps = 0 AND (conc_group IS NOT NULL OR rate_system IS NOT NULL);
CREATE INDEX tasker_steps_running_group ON tasker_steps (conc_group)
    WHERE state = 'in_progress' AND conc_group IS NOT NULL;
