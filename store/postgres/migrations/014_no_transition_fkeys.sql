-- Transitions and edges lose their foreign keys. Every row of them is
-- written by the statement that writes (or just wrote) its step and task,
-- so the keys checked nothing the store does not already guarantee, at a
-- price on every write: each key is a trigger that runs a query and locks
-- the referenced row FOR KEY SHARE (a WAL record of its own). A one-step
-- workflow paid seven such checks, a 10-step chain 70. Measured with
-- `tasker bench --workloads W1 --peers-sizes --procs 1` and
-- pg_stat_statements: the server's execution time for 2,000 one-step
-- workflows fell from 456-480 ms to 368-383 ms.
--
-- DeleteFinished deletes a task's transitions and edges by task_id
-- (UNIQUE (task_id, sort_key), tasker_step_transitions_task and
-- tasker_step_edges_task serve it) before the task; the steps, events
-- and workflow values keep their keys and follow the task by ON DELETE
-- CASCADE. SQLite keeps every key: there a check is a B-tree probe in the
-- same process, and dropping the keys measured no difference.
ALTER TABLE tasker_step_transitions DROP CONSTRAINT tasker_step_transitions_step_id_fkey;
ALTER TABLE tasker_step_transitions DROP CONSTRAINT tasker_step_transitions_task_id_fkey;
ALTER TABLE tasker_task_transitions DROP CONSTRAINT tasker_task_transitions_task_id_fkey;
ALTER TABLE tasker_step_edges DROP CONSTRAINT tasker_step_edges_task_id_fkey;
ALTER TABLE tasker_step_edges DROP CONSTRAINT tasker_step_edges_from_step_id_fkey;
ALTER TABLE tasker_step_edges DROP CONSTRAINT tasker_step_edges_to_step_id_fkey;
