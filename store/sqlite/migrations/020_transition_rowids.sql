-- The transition tables are rebuilt (SQLite alters no key in place):
--
-- * Their ids lose AUTOINCREMENT. It kept a counter row in sqlite_sequence
--   that every insert rewrote, so each commit that wrote a transition
--   wrote that page too: one of the ~7 pages of a chain step's finish
--   commit. A plain INTEGER PRIMARY KEY takes the largest id plus one, so
--   ids still grow with each insert (the latest failures walk task
--   transitions by id); only an id whose row was deleted may come again.
-- * A step transition loses its foreign key to its task. Nothing indexes
--   tasker_step_transitions by task (017 dropped that index), so each task
--   row DeleteFinished deleted made SQLite scan the whole table for rows
--   to cascade to: deleting 50 tasks took 118 ms beside 38,000 step
--   transitions, 2 ms without the key, and the cost grew with the table.
--   DeleteFinished deletes a task's step transitions through its steps
--   first; the key to the step stays (UNIQUE (step_id, sort_key) serves
--   it). Postgres dropped both keys in 014.
CREATE TABLE tasker_step_transitions_020 (
    id          INTEGER PRIMARY KEY,
    step_id     INTEGER NOT NULL REFERENCES tasker_steps (id) ON DELETE CASCADE,
    task_id     INTEGER NOT NULL,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    sort_key    INTEGER NOT NULL,
    metadata    TEXT,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (step_id, sort_key)
);
INSERT INTO tasker_step_transitions_020 (id, step_id, task_id, from_state, to_state, sort_key, metadata, created_at)
    SELECT id, step_id, task_id, from_state, to_state, sort_key, metadata, created_at FROM tasker_step_transitions;
DROP TABLE tasker_step_transitions;
ALTER TABLE tasker_step_transitions_020 RENAME TO tasker_step_transitions;

CREATE TABLE tasker_task_transitions_020 (
    id          INTEGER PRIMARY KEY,
    task_id     INTEGER NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    sort_key    INTEGER NOT NULL,
    metadata    TEXT,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (task_id, sort_key)
);
INSERT INTO tasker_task_transitions_020 (id, task_id, from_state, to_state, sort_key, metadata, created_at)
    SELECT id, task_id, from_state, to_state, sort_key, metadata, created_at FROM tasker_task_transitions;
DROP TABLE tasker_task_transitions;
ALTER TABLE tasker_task_transitions_020 RENAME TO tasker_task_transitions;
CREATE INDEX tasker_task_transitions_failed ON tasker_task_transitions (id) WHERE to_state = 'error';

DELETE FROM sqlite_sequence WHERE name IN ('tasker_step_transitions', 'tasker_task_transitions');
