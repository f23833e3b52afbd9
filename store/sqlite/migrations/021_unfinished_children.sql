-- The maintenance pass's sweep of orphans (ListOrphans): unfinished
-- children, by id, whose parent has ended. Only children that are pending
-- or in progress have an entry, so the sweep reads the work in hand among
-- children, not every unfinished task, and a task without a parent (the
-- usual one) never touches the index.
CREATE INDEX tasker_tasks_unfinished_children ON tasker_tasks (id) WHERE parent_id IS NOT NULL AND state IN ('pending', 'in_progress');
