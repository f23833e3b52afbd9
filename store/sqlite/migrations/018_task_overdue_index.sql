-- Unfinished tasks by deadline: the rescue pass fails those past it
-- (WithWorkflowTimeout), also when no worker ever claims their steps. Only
-- tasks with a deadline have an entry, and only while they run.
CREATE INDEX tasker_tasks_overdue ON tasker_tasks (deadline_at)
    WHERE deadline_at IS NOT NULL AND state IN ('pending', 'in_progress');
