-- Retention per workflow: a task's own retention in milliseconds, copied
-- from its template (or code-first registration) when it is created.
-- NULL: the engine's default retention; -1: kept forever. The deleter
-- walks finished tasks by (retention_ms, completed_at): one range per
-- retention, oldest first. This index replaces tasker_tasks_finished
-- (completed_at alone), which served only the deleter.
ALTER TABLE tasker_tasks ADD COLUMN retention_ms BIGINT;
CREATE INDEX tasker_tasks_expiring ON tasker_tasks (retention_ms, completed_at, id) WHERE completed_at IS NOT NULL;
DROP INDEX tasker_tasks_finished;
