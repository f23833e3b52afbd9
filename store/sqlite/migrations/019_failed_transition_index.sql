-- Task moves into error, the latest first: the overview's latest failures
-- (ListTasks with OrderByFailed) walk them back from the newest and stop
-- at a page's worth. Transitions are only appended, and only moves into
-- error have an entry.
CREATE INDEX tasker_task_transitions_failed ON tasker_task_transitions (id) WHERE to_state = 'error';
