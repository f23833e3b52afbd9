-- Values a code-first workflow publishes for readers outside it: query
-- state (kind 'query', the latest by sequence wins) and answers to updates
-- (kind 'reply', the first written wins). seq is the workflow's durable
-- sequence when the value was set, so a replay never overwrites a newer
-- value with an older one.
CREATE TABLE tasker_workflow_values (
    task_id    INTEGER NOT NULL REFERENCES tasker_tasks (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    value      TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (task_id, kind, name)
);
