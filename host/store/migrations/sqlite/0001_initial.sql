-- Moat schema, SQLite dialect. Keep in step with ../postgres/0001_initial.sql.
-- Times are unix seconds (INTEGER); booleans are 0/1.

CREATE TABLE tenants (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
INSERT INTO tenants (id, name, created_at) VALUES (1, 'default', 0);

CREATE TABLE domains (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL UNIQUE,
    alias_of      INTEGER REFERENCES domains(id) ON DELETE CASCADE,
    contact_email TEXT,
    max_users     INTEGER,
    language      TEXT    NOT NULL DEFAULT 'en',
    created_at    INTEGER NOT NULL
);
CREATE INDEX domains_alias_of ON domains(alias_of);

CREATE TABLE downstream_hosts (
    id         INTEGER PRIMARY KEY,
    domain_id  INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    host       TEXT    NOT NULL,
    port       INTEGER NOT NULL,
    priority   INTEGER NOT NULL,
    UNIQUE (domain_id, host, port)
);

CREATE TABLE mailboxes (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    local_part  TEXT    NOT NULL,
    full_name   TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (domain_id, local_part)
);

CREATE TABLE aliases (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    local_part  TEXT    NOT NULL,
    mailbox_id  INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    UNIQUE (domain_id, local_part)
);
CREATE INDEX aliases_mailbox ON aliases(mailbox_id);

CREATE TABLE queue_messages (
    id           TEXT    PRIMARY KEY,
    sender       TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    log_id       INTEGER
);

CREATE TABLE queue_recipients (
    id               INTEGER PRIMARY KEY,
    message_id       TEXT    NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
    address          TEXT    NOT NULL,
    route            TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_reply       TEXT,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX queue_recipients_due ON queue_recipients(status, next_attempt_at);
CREATE INDEX queue_recipients_message ON queue_recipients(message_id);

CREATE TABLE message_log (
    id               INTEGER PRIMARY KEY,
    queue_id         TEXT,
    received_at      INTEGER NOT NULL,
    client_ip        TEXT    NOT NULL,
    helo             TEXT    NOT NULL,
    tls              INTEGER NOT NULL,
    sender           TEXT    NOT NULL,
    recipients       TEXT    NOT NULL,
    size             INTEGER NOT NULL,
    subject          TEXT,
    message_id       TEXT,
    verdict          TEXT    NOT NULL,
    delivery_status  TEXT    NOT NULL,
    last_reply       TEXT
);
CREATE INDEX message_log_received ON message_log(received_at);
CREATE INDEX message_log_queue ON message_log(queue_id);
