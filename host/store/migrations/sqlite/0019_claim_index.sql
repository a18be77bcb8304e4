-- The delivery claim reads due recipients in (next_attempt_at, message_id) order: with the index on
-- (status, next_attempt_at) alone every claim sorted all the recipients due in the same second, so its cost
-- grew with the backlog (SQLite: 0.5 ms a claim at 32 clients, the store's costliest statement). This index
-- gives the order and every column the claim reads. Keep in step with ../postgres/0019_claim_index.sql.
DROP INDEX queue_recipients_due;
CREATE INDEX queue_recipients_due ON queue_recipients(status, next_attempt_at, message_id, route, lease_owner, lease_until);
