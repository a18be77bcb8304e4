-- The email log's review and retention, postgres dialect. Keep in step with ../sqlite/0007_log_review.sql.

-- An admin's classification of a logged message ('spam' or 'valid'), taught to the tenant's filters.
ALTER TABLE message_log ADD COLUMN classified TEXT;

-- Retention removes held messages by age.
CREATE INDEX quarantine_received ON quarantine(received_at);
