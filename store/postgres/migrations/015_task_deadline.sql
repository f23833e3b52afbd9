-- A task's deadline (WithWorkflowTimeout), written by the start on the
-- database's clock: the starting process's clock may be skewed against
-- the workers' (the deadline used to be computed there, into each step's
-- policy, and compared with a worker's clock). NULL: no deadline.
ALTER TABLE tasker_tasks ADD COLUMN deadline_at TIMESTAMPTZ;
