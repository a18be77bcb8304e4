-- The console's accounts, sessions, import jobs and branding, sqlite dialect. Keep in step with
-- ../postgres/0006_console.sql.

-- Domain admins (role 'domain'): the tenant's domains delegated to them and what they may do there.
ALTER TABLE admins ADD COLUMN may_open_panels INTEGER NOT NULL DEFAULT 0;
ALTER TABLE admins ADD COLUMN may_view_emails INTEGER NOT NULL DEFAULT 0;
ALTER TABLE admins ADD COLUMN may_view_headers INTEGER NOT NULL DEFAULT 0;
-- Base32 TOTP secret once the admin has turned the second factor on.
ALTER TABLE admins ADD COLUMN totp_secret TEXT;
ALTER TABLE admins ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
-- Where notifications for the admin (import results) go.
ALTER TABLE admins ADD COLUMN email TEXT;

CREATE TABLE admin_domains (
    admin_id   INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    domain_id  INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    PRIMARY KEY (admin_id, domain_id)
);

-- End users sign in with their mailbox address. NULL password: no console access yet. NULL language: the
-- domain's.
ALTER TABLE mailboxes ADD COLUMN password_hash TEXT;
ALTER TABLE mailboxes ADD COLUMN language TEXT;

-- Console sessions: only a SHA-256 of the cookie is kept. Exactly one of admin_id, mailbox_id is set.
CREATE TABLE sessions (
    id_sha256        TEXT    PRIMARY KEY,
    admin_id         INTEGER REFERENCES admins(id) ON DELETE CASCADE,
    mailbox_id       INTEGER REFERENCES mailboxes(id) ON DELETE CASCADE,
    csrf_token       TEXT    NOT NULL,
    -- 1 while the password is checked but the TOTP code is not yet
    awaiting_totp    INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- Background imports of users (CSV/TXT): progress and per-line errors (JSON).
CREATE TABLE import_jobs (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    admin_id     INTEGER REFERENCES admins(id) ON DELETE SET NULL,
    file_name    TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    total        INTEGER NOT NULL,
    processed    INTEGER NOT NULL,
    created      INTEGER NOT NULL,
    unchanged    INTEGER NOT NULL,
    errors       TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER
);

-- Logo and welcome-message template: one row for every domain ('*') and rows per domain that override it.
-- send_welcome: new users get the welcome message with their console credentials (NULL: as for every domain).
CREATE TABLE branding (
    scope       TEXT    PRIMARY KEY,
    logo        BLOB,
    logo_type   TEXT,
    welcome     TEXT,
    send_welcome INTEGER,
    updated_at  INTEGER NOT NULL
);
