-- Transitions are append-only: the current one of a task or step is the
-- row with the highest sort_key (UNIQUE (…, sort_key) indexes it), so no
-- write demotes the previous row. History reports most_recent, computed.
DROP INDEX tasker_task_transitions_current;
DROP INDEX tasker_step_transitions_current;
ALTER TABLE tasker_task_transitions DROP COLUMN most_recent;
ALTER TABLE tasker_step_transitions DROP COLUMN most_recent;
