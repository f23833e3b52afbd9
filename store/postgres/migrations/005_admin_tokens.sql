-- Admin API bearer tokens. Only a SHA-256 of the token is kept (hex): the
-- token itself is shown once, when it is created. A revoked token keeps
-- its row (revoked_at set) so the audit trail's actors stay resolvable.
CREATE TABLE tasker_admin_tokens (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
