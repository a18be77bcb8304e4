-- Several nodes on one database. Keep in step with ../sqlite/0016_cluster.sql.

-- Message bodies live in a content-addressed message store (filesystem, this database, or S3-compatible
-- object storage), named by the SHA-256 of their bytes. What refers to a body keeps it alive: a queued
-- message, a held one, and a log row while delivered copies are kept.
ALTER TABLE queue_messages ADD COLUMN body TEXT;
ALTER TABLE quarantine ADD COLUMN body TEXT;
ALTER TABLE message_log ADD COLUMN body TEXT;
CREATE INDEX queue_messages_body ON queue_messages(body);
CREATE INDEX quarantine_body ON quarantine(body);
CREATE INDEX message_log_body ON message_log(body);

-- The database message store (the cluster's default).
CREATE TABLE message_bodies (
    hash       TEXT   PRIMARY KEY,
    bytes      BYTEA  NOT NULL,
    stored_at  BIGINT NOT NULL
);
CREATE INDEX message_bodies_stored ON message_bodies(stored_at);

-- Deliveries are leased by one node at a time: a node that dies leaves leases that expire, and another
-- node takes the work over; a settle is fenced by the owner, so a node that lost its lease writes nothing.
ALTER TABLE queue_recipients ADD COLUMN lease_owner TEXT;
ALTER TABLE queue_recipients ADD COLUMN lease_until BIGINT;
CREATE INDEX queue_recipients_lease ON queue_recipients(lease_owner);

-- Every node says it is alive here; the console lists them.
CREATE TABLE nodes (
    name          TEXT   PRIMARY KEY,
    version       TEXT   NOT NULL,
    run_id        TEXT   NOT NULL,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL,
    -- Seconds between heartbeats: a node three beats late is taken for dead.
    beat_every    BIGINT NOT NULL
);
