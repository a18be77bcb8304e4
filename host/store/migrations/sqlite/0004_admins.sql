-- Console and API accounts, sqlite dialect. Keep in step with ../postgres/0004_admins.sql.

-- Who may administer what: a platform admin everything, a tenant admin one tenant.
CREATE TABLE admins (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    -- argon2id PHC string
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    tenant_id      INTEGER REFERENCES tenants(id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL
);

-- REST API tokens: only a SHA-256 of each is kept (they are 256-bit random, so a fast hash suffices and
-- lets a request find its token by hash).
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    admin_id      INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    token_sha256  TEXT    NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX api_tokens_admin ON api_tokens(admin_id);
