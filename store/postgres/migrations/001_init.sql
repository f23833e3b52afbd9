-- Tasker schema, PostgreSQL flavour: the same tables as the SQLite schema,
-- with identity ids, timestamptz, jsonb documents and an index on every
-- foreign-key column (so ON DELETE CASCADE and SET NULL never scan a table).
CREATE TABLE tasker_tasks (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace      TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('dag', 'code')),
    identity_key   TEXT NOT NULL UNIQUE,
    input_hash     TEXT NOT NULL DEFAULT '',
    context        JSONB NOT NULL DEFAULT '{}',
    results        JSONB,
    last_error     JSONB,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'in_progress', 'complete', 'error', 'cancelled', 'resolved_manually')),
    priority       INTEGER NOT NULL DEFAULT 0,
    parent_id      BIGINT REFERENCES tasker_tasks (id) ON DELETE SET NULL,
    unfinished     INTEGER NOT NULL DEFAULT 0 CHECK (unfinished >= 0),
    transition_seq INTEGER NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    completed_at   TIMESTAMPTZ
);
CREATE INDEX tasker_tasks_state ON tasker_tasks (state, id);
CREATE INDEX tasker_tasks_name ON tasker_tasks (namespace, name, id);
CREATE INDEX tasker_tasks_parent ON tasker_tasks (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX tasker_tasks_finished ON tasker_tasks (completed_at) WHERE completed_at IS NOT NULL;

CREATE TABLE tasker_steps (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id          BIGINT NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    handler          TEXT NOT NULL,
    sequence         INTEGER,
    config           JSONB,
    policy           JSONB,
    retryable        BOOLEAN NOT NULL DEFAULT TRUE,
    retry_limit      INTEGER NOT NULL DEFAULT 3 CHECK (retry_limit >= 1),
    attempts         INTEGER NOT NULL DEFAULT 0,
    skippable        BOOLEAN NOT NULL DEFAULT FALSE,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'in_progress', 'complete', 'error', 'cancelled', 'resolved_manually')),
    results          JSONB,
    last_error       JSONB,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    pending_deps     INTEGER NOT NULL DEFAULT 0 CHECK (pending_deps >= 0),
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ,
    lease_token      BIGINT,
    transition_seq   INTEGER NOT NULL DEFAULT 0,
    started_at       TIMESTAMPTZ,
    completed_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (task_id, name)
);
-- The claim: ready steps in readiness order.
CREATE INDEX tasker_steps_ready ON tasker_steps (next_attempt_at, id) WHERE state = 'pending' AND pending_deps = 0;
-- The rescuer: leases by expiry.
CREATE INDEX tasker_steps_leases ON tasker_steps (lease_expires_at) WHERE state = 'in_progress';
CREATE UNIQUE INDEX tasker_steps_sequence ON tasker_steps (task_id, sequence) WHERE sequence IS NOT NULL;
-- task_id is covered by UNIQUE (task_id, name).

CREATE TABLE tasker_step_edges (
    task_id      BIGINT NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    from_step_id BIGINT NOT NULL REFERENCES tasker_steps (id) ON DELETE CASCADE,
    to_step_id   BIGINT NOT NULL REFERENCES tasker_steps (id) ON DELETE CASCADE,
    PRIMARY KEY (from_step_id, to_step_id),
    CHECK (from_step_id <> to_step_id)
);
CREATE INDEX tasker_step_edges_to ON tasker_step_edges (to_step_id);
CREATE INDEX tasker_step_edges_task ON tasker_step_edges (task_id);
-- from_step_id is covered by the primary key.

CREATE TABLE tasker_task_transitions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     BIGINT NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    sort_key    INTEGER NOT NULL,
    most_recent BOOLEAN NOT NULL,
    metadata    JSONB,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (task_id, sort_key)
);
CREATE UNIQUE INDEX tasker_task_transitions_current ON tasker_task_transitions (task_id) WHERE most_recent;

CREATE TABLE tasker_step_transitions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    step_id     BIGINT NOT NULL REFERENCES tasker_steps (id) ON DELETE CASCADE,
    task_id     BIGINT NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    sort_key    INTEGER NOT NULL,
    most_recent BOOLEAN NOT NULL,
    metadata    JSONB,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (step_id, sort_key)
);
CREATE UNIQUE INDEX tasker_step_transitions_current ON tasker_step_transitions (step_id) WHERE most_recent;
CREATE INDEX tasker_step_transitions_task ON tasker_step_transitions (task_id, id);

CREATE TABLE tasker_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     BIGINT NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    key         TEXT NOT NULL,
    payload     JSONB,
    consumed_at TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (task_id, name, key)
);
CREATE INDEX tasker_events_waiting ON tasker_events (task_id, name, id) WHERE consumed_at IS NULL;
