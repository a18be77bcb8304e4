-- Outbound mail through Moat as the customers' smart host.
--
-- SMTP credentials: what a customer's mail server authenticates with on the submission listeners, one domain
-- each (it may send as that domain and its alias domains). Only an argon2id hash of the secret is kept; the
-- secret is shown once. A suspended credential may not send (the compromised-account guard, or an admin).
CREATE TABLE smtp_credentials (
    id                INTEGER PRIMARY KEY,
    domain_id         INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    username          TEXT    NOT NULL UNIQUE,
    secret_hash       TEXT    NOT NULL,
    label             TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    last_used_at      INTEGER,
    suspended_at      INTEGER,
    suspended_reason  TEXT
);
CREATE INDEX smtp_credentials_domain ON smtp_credentials(domain_id);

-- DKIM keys a domain's outgoing mail is signed with. `private_key` is sealed with the data dir's key file;
-- `public_key` is the base64 the DNS record publishes. A rotated key stops signing (`rotated_at`) but stays
-- listed, so its selector stays published until the admin retires (deletes) it.
CREATE TABLE dkim_keys (
    id           INTEGER PRIMARY KEY,
    domain_id    INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    selector     TEXT    NOT NULL,
    algorithm    TEXT    NOT NULL,
    private_key  TEXT    NOT NULL,
    public_key   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    rotated_at   INTEGER,
    UNIQUE (domain_id, selector)
);

-- Which way a logged message went: 'inbound' (MX) or 'outbound' (a customer's server relaying); chains
-- exist per direction (outgoing mail gets no checks of the client, which is the customer's own server);
-- outgoing mail held by a filter is released by admins only.
ALTER TABLE message_log ADD COLUMN direction TEXT NOT NULL DEFAULT 'inbound';
ALTER TABLE chains ADD COLUMN direction TEXT NOT NULL DEFAULT 'inbound';
ALTER TABLE quarantine ADD COLUMN direction TEXT NOT NULL DEFAULT 'inbound';
