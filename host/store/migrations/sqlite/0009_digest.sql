-- Quarantine digests, sqlite dialect. Keep in step with ../postgres/0009_digest.sql.
-- digest: whether the user wants them (1) or not (0). digest_at: when the last one was due and claimed by a
-- node (NULL: never), so several nodes send each digest once.
ALTER TABLE mailboxes ADD COLUMN digest INTEGER NOT NULL DEFAULT 1;
ALTER TABLE mailboxes ADD COLUMN digest_at BIGINT;
