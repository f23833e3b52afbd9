-- Tasker schema, SQLite flavour. Times are UTC text in bun's fixed format
-- ('2006-01-02 15:04:05.999999+00:00'), which sorts as time does.
CREATE TABLE tasker_tasks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace      TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('dag', 'code')),
    identity_key   TEXT NOT NULL UNIQUE,
    input_hash     TEXT NOT NULL DEFAULT '',
    context        TEXT NOT NULL DEFAULT '{}',
    results        TEXT,
    last_error     TEXT,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'in_progress', 'complete', 'error', 'cancelled', 'resolved_manually')),
    priority       INTEGER NOT NULL DEFAULT 0,
    parent_id      INTEGER REFERENCES tasker_tasks (id) ON DELETE SET NULL,
    unfinished     INTEGER NOT NULL DEFAULT 0 CHECK (unfinished >= 0),
    transition_seq INTEGER NOT NULL DEFAULT 0,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    completed_at   TIMESTAMP
);
CREATE INDEX tasker_tasks_state ON tasker_tasks (state, id);
CREATE INDEX tasker_tasks_name ON tasker_tasks (namespace, name, id);
CREATE INDEX tasker_tasks_parent ON tasker_tasks (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX tasker_tasks_finished ON tasker_tasks (completed_at) WHERE completed_at IS NOT NULL;

CREATE TABLE tasker_steps (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id          INTEGER NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    handler          TEXT NOT NULL,
    sequence         INTEGER,
    config           TEXT,
    policy           TEXT,
    retryable        BOOLEAN NOT NULL DEFAULT 1,
    retry_limit      INTEGER NOT NULL DEFAULT 3 CHECK (retry_limit >= 1),
    attempts         INTEGER NOT NULL DEFAULT 0,
    skippable        BOOLEAN NOT NULL DEFAULT 0,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'in_progress', 'complete', 'error', 'cancelled', 'resolved_manually')),
    results          TEXT,
    last_error       TEXT,
    next_attempt_at  TIMESTAMP NOT NULL,
    pending_deps     INTEGER NOT NULL DEFAULT 0 CHECK (pending_deps >= 0),
    lease_owner      TEXT,
    lease_expires_at TIMESTAMP,
    lease_token      INTEGER,
    transition_seq   INTEGER NOT NULL DEFAULT 0,
    started_at       TIMESTAMP,
    completed_at     TIMESTAMP,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    UNIQUE (task_id, name)
);
-- The claim: ready steps in readiness order. The claim query names tasks in
-- a CROSS JOIN so SQLite keeps steps as the outer loop and walks this index.
CREATE INDEX tasker_steps_ready ON tasker_steps (next_attempt_at, id) WHERE state = 'pending' AND pending_deps = 0;
-- The rescuer: leases by expiry.
CREATE INDEX tasker_steps_leases ON tasker_steps (lease_expires_at) WHERE state = 'in_progress';
CREATE UNIQUE INDEX tasker_steps_sequence ON tasker_steps (task_id, sequence) WHERE sequence IS NOT NULL;

CREATE TABLE tasker_step_edges (
    task_id      INTEGER NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    from_step_id INTEGER NOT NULL REFERENCES tasker_steps (id) ON DELETE CASCADE,
    to_step_id   INTEGER NOT NULL REFERENCES tasker_steps (id) ON DELETE CASCADE,
    PRIMARY KEY (from_step_id, to_step_id),
    CHECK (from_step_id <> to_step_id)
);
CREATE INDEX tasker_step_edges_to ON tasker_step_edges (to_step_id);
CREATE INDEX tasker_step_edges_task ON tasker_step_edges (task_id);

CREATE TABLE tasker_task_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     INTEGER NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    sort_key    INTEGER NOT NULL,
    most_recent BOOLEAN NOT NULL,
    metadata    TEXT,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (task_id, sort_key)
);
CREATE UNIQUE INDEX tasker_task_transitions_current ON tasker_task_transitions (task_id) WHERE most_recent;

CREATE TABLE tasker_step_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    step_id     INTEGER NOT NULL REFERENCES tasker_steps (id) ON DELETE CASCADE,
    task_id     INTEGER NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    sort_key    INTEGER NOT NULL,
    most_recent BOOLEAN NOT NULL,
    metadata    TEXT,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (step_id, sort_key)
);
CREATE UNIQUE INDEX tasker_step_transitions_current ON tasker_step_transitions (step_id) WHERE most_recent;
CREATE INDEX tasker_step_transitions_task ON tasker_step_transitions (task_id, id);

CREATE TABLE tasker_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     INTEGER NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    key         TEXT NOT NULL,
    payload     TEXT,
    consumed_at TIMESTAMP,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (task_id, name, key)
);
CREATE INDEX tasker_events_waiting ON tasker_events (task_id, name, id) WHERE consumed_at IS NULL;
