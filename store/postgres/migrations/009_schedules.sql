-- Schedules: a workflow started on a cron spec or a fixed interval. The
-- leader fires them; next_fire_at is the earliest tick not yet handled,
-- buffered_at a tick held back by the buffer-one overlap policy,
-- trigger_at a run asked for by hand that the leader has not started. Every
-- write is a compare and set on revision. Durations are nanoseconds.
CREATE TABLE tasker_schedules (
    id              TEXT PRIMARY KEY,
    workflow        TEXT NOT NULL,
    spec            TEXT NOT NULL,
    timezone        TEXT NOT NULL,
    input           TEXT NOT NULL,
    overlap         TEXT NOT NULL,
    catch_up_window BIGINT NOT NULL,
    jitter          BIGINT NOT NULL,
    paused          BOOLEAN NOT NULL,
    next_fire_at    TIMESTAMPTZ NOT NULL,
    buffered_at     TIMESTAMPTZ,
    trigger_at      TIMESTAMPTZ,
    last_fire_at    TIMESTAMPTZ,
    last_task_id    BIGINT,
    last_error      TEXT NOT NULL,
    revision        BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
