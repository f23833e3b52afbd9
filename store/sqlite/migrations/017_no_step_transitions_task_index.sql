-- Step transitions lose their index by task: every transition written paid
-- an entry in it, and its readers are rare (History, DeleteFinished). They
-- find a task's step transitions through its steps instead: UNIQUE
-- (task_id, name) on tasker_steps gives the step ids, UNIQUE (step_id,
-- sort_key) their transitions.
DROP INDEX tasker_step_transitions_task;
