-- Worker registry: one row per running engine (id = its WorkerID), refreshed
-- with every lease heartbeat; a row whose expires_at has passed is a worker
-- that stopped without deregistering (a crash, a kill).
CREATE TABLE tasker_workers (
    id           TEXT PRIMARY KEY,
    queues       JSONB NOT NULL DEFAULT '[]',
    handlers     JSONB NOT NULL DEFAULT '[]',
    version      TEXT NOT NULL DEFAULT '',
    concurrency  INTEGER NOT NULL DEFAULT 0,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX tasker_workers_expires ON tasker_workers (expires_at);
