-- schema at migration 21
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
, queue TEXT NOT NULL DEFAULT 'default', trace_context TEXT, retention_ms BIGINT, deadline_at TIMESTAMP);
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
    updated_at       TIMESTAMP NOT NULL, queue TEXT NOT NULL DEFAULT 'default', priority INTEGER NOT NULL DEFAULT 0, conc_group TEXT, conc_max INTEGER NOT NULL DEFAULT 0, rate_system TEXT,
    UNIQUE (task_id, name)
);
CREATE TABLE tasker_step_edges (
    task_id      INTEGER NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    from_step_id INTEGER NOT NULL REFERENCES tasker_steps (id) ON DELETE CASCADE,
    to_step_id   INTEGER NOT NULL REFERENCES tasker_steps (id) ON DELETE CASCADE,
    PRIMARY KEY (from_step_id, to_step_id),
    CHECK (from_step_id <> to_step_id)
);
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
CREATE TABLE tasker_leaders (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE TABLE tasker_conc_groups (name TEXT PRIMARY KEY);
CREATE TABLE tasker_rate_limits (
    name       TEXT PRIMARY KEY,
    per_second REAL NOT NULL,
    burst      INTEGER NOT NULL,
    tokens     REAL NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE tasker_workers (
    id           TEXT PRIMARY KEY,
    queues       TEXT NOT NULL DEFAULT '[]',
    handlers     TEXT NOT NULL DEFAULT '[]',
    version      TEXT NOT NULL DEFAULT '',
    concurrency  INTEGER NOT NULL DEFAULT 0,
    started_at   TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE TABLE tasker_admin_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE TABLE tasker_workflow_values (
    task_id    INTEGER NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    value      TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (task_id, kind, name)
);
CREATE TABLE tasker_schedules (
    id              TEXT PRIMARY KEY,
    workflow        TEXT NOT NULL,
    spec            TEXT NOT NULL,
    timezone        TEXT NOT NULL,
    input           TEXT NOT NULL,
    overlap         TEXT NOT NULL,
    catch_up_window INTEGER NOT NULL,
    jitter          INTEGER NOT NULL,
    paused          BOOLEAN NOT NULL,
    next_fire_at    TIMESTAMP NOT NULL,
    buffered_at     TIMESTAMP,
    trigger_at      TIMESTAMP,
    last_fire_at    TIMESTAMP,
    last_task_id    INTEGER,
    last_error      TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE TABLE "tasker_step_transitions" (
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
CREATE TABLE "tasker_task_transitions" (
    id          INTEGER PRIMARY KEY,
    task_id     INTEGER NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    sort_key    INTEGER NOT NULL,
    metadata    TEXT,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (task_id, sort_key)
);
CREATE INDEX tasker_tasks_state ON tasker_tasks (state, id);
CREATE INDEX tasker_tasks_name ON tasker_tasks (namespace, name, id);
CREATE INDEX tasker_tasks_parent ON tasker_tasks (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX tasker_steps_ready ON tasker_steps (next_attempt_at, id) WHERE state = 'pending' AND pending_deps = 0;
CREATE INDEX tasker_steps_leases ON tasker_steps (lease_expires_at) WHERE state = 'in_progress';
CREATE UNIQUE INDEX tasker_steps_sequence ON tasker_steps (task_id, sequence) WHERE sequence IS NOT NULL;
CREATE INDEX tasker_step_edges_to ON tasker_step_edges (to_step_id);
CREATE INDEX tasker_step_edges_task ON tasker_step_edges (task_id);
CREATE INDEX tasker_events_waiting ON tasker_events (task_id, name, id) WHERE consumed_at IS NULL;
CREATE INDEX tasker_steps_claim_priority ON tasker_steps (queue, priority DESC, next_attempt_at, id)
    WHERE state = 'pending' AND pending_deps = 0 AND priority > 0 AND conc_group IS NULL AND rate_system IS NULL;
CREATE INDEX tasker_steps_claim_gated ON tasker_steps (queue, priority DESC, next_attempt_at, id)
    WHERE state = 'pending' AND pending_deps = 0 AND (conc_group IS NOT NULL OR rate_system IS NOT NULL);
CREATE INDEX tasker_steps_running_group ON tasker_steps (conc_group)
    WHERE state = 'in_progress' AND conc_group IS NOT NULL;
CREATE INDEX tasker_workers_expires ON tasker_workers (expires_at);
CREATE INDEX tasker_steps_history ON tasker_steps (name, created_at);
CREATE INDEX tasker_tasks_created ON tasker_tasks (created_at);
CREATE INDEX tasker_tasks_expiring ON tasker_tasks (retention_ms, completed_at, id) WHERE completed_at IS NOT NULL;
CREATE INDEX tasker_tasks_overdue ON tasker_tasks (deadline_at)
    WHERE deadline_at IS NOT NULL AND state IN ('pending', 'in_progress');
CREATE INDEX tasker_task_transitions_failed ON tasker_task_transitions (id) WHERE to_state = 'error';
CREATE INDEX tasker_tasks_unfinished_children ON tasker_tasks (id) WHERE parent_id IS NOT NULL AND state IN ('pending', 'in_progress');
