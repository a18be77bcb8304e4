-- Chains, plugin storage, quarantine, alerts, verdicts in the log. Keep in step with ../postgres/0003_chains.sql.

-- Every chain ever saved: the newest row of a scope is the live chain; older rows are its history.
-- Scope: tenant_id and domain_id both NULL = the default chain; tenant_id only = a tenant's; domain_id = a
-- domain's override. A NULL spec clears the scope (falls back to the wider one).
CREATE TABLE chains (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER REFERENCES tenants(id) ON DELETE CASCADE,
    domain_id   INTEGER REFERENCES domains(id) ON DELETE CASCADE,
    spec        TEXT,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX chains_scope ON chains(tenant_id, domain_id, id);

-- Plugins' key-value storage; namespace = tenant:plugin. Counters live in `counter` so increments are atomic
-- in SQL.
CREATE TABLE plugin_kv (
    namespace   TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    value       BLOB,
    counter     INTEGER,
    expires_at  INTEGER,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX plugin_kv_expiry ON plugin_kv(expires_at);

CREATE TABLE quarantine (
    id           TEXT    PRIMARY KEY,
    tenant_id    INTEGER NOT NULL,
    log_id       INTEGER,
    sender       TEXT    NOT NULL,
    -- JSON [[address, route], ...]
    recipients   TEXT    NOT NULL,
    subject      TEXT,
    score        REAL    NOT NULL,
    reason       TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    released_at  INTEGER,
    bytes        BLOB    NOT NULL
);
CREATE INDEX quarantine_tenant ON quarantine(tenant_id, received_at);

-- What an admin must hear about (a plugin tripped, say).
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER,
    kind        TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

ALTER TABLE message_log ADD COLUMN tenant_id INTEGER;
ALTER TABLE message_log ADD COLUMN score REAL;
ALTER TABLE message_log ADD COLUMN symbols TEXT;
ALTER TABLE message_log ADD COLUMN report TEXT;
