-- Tasks lose their index on created_at: every start paid an entry in it
-- for reads that are rare (reports, the activity chart, listings by
-- creation time). Those find a window's tasks by id instead: ids grow
-- with creation times, so a binary search over the primary key finds the
-- window's first task (bunstore's firstIDAt), and created_at is filtered
-- from there.
DROP INDEX tasker_tasks_created;
