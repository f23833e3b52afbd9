-- Leader election: one row per leadership, held by owner until expires_at.
CREATE TABLE tasker_leaders (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
