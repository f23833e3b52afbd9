-- A task's deadline (WithWorkflowTimeout), written by the start on the
-- clock of the writing process (SQLite's processes share one machine).
-- NULL: no deadline.
ALTER TABLE tasker_tasks ADD COLUMN deadline_at TIMESTAMP;
